"""The HTTP API: ``create_app()`` builds a FastAPI app with one router per audience."""

from .app import create_app

__all__ = ["create_app"]
