"""The officer console: accounts, sessions and server-rendered pages for registrars, auditors and admins."""

from . import decisions as _decisions  # noqa: F401
from . import records as _records  # noqa: F401  (each registers its pages on the router)
from . import supervision as _supervision  # noqa: F401
from . import views as _views  # noqa: F401
from .routes import router

__all__ = ["router"]
