"""The officer console: accounts, sessions and server-rendered pages for registrars, auditors and admins."""

from . import records as _records  # noqa: F401  (registers the registrar's pages on the router)
from .routes import router

__all__ = ["router"]
