"""Storage: SQLAlchemy Core tables, the engine factory (SQLite | PostgreSQL) and Alembic migrations."""

from .database import Database, connect, upgrade
from .schema import metadata

__all__ = ["Database", "connect", "metadata", "upgrade"]
