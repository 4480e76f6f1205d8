"""Storage: SQLAlchemy Core tables, the engine factory (SQLite | PostgreSQL) and Alembic migrations."""

from .database import Database, RegistryMissing, connect, upgrade
from .schema import metadata

__all__ = ["Database", "RegistryMissing", "connect", "metadata", "upgrade"]
