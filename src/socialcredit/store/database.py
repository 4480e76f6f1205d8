"""Engine factory for SQLite (WAL, the embedded default) and PostgreSQL (psycopg 3), and schema upgrades."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

__all__ = ["SQLITE_PAGE_SIZE", "Database", "RegistryMissing", "connect", "upgrade"]


class RegistryMissing(Exception):
    """There is no registry at the URL (no file, or no schema): a mistyped URL, or `socialcredit init` not run."""


SQLITE_PAGE_SIZE = 8192


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # 8 KB pages for a new database (a no-op on an existing one, which keeps its size): a record's rows are about
    # 1.9 KB, and a million-row import ran in 0.88 of the time of 4 KB pages (decision 0103, session 14).
    cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers take the lock at BEGIN, so two writers never deadlock upgrading a read lock.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def connect(url: str | None = None, *, create: bool = True) -> Engine:
    """An Engine for ``url`` (default: the configured ``SOCIALCREDIT_DATABASE_URL``).

    ``create=False``: a SQLite file that does not exist raises RegistryMissing instead of being created, with its
    directories, empty (a read command given a mistyped URL must not leave a new database behind)."""
    if url is None:
        from ..settings import get_settings

        url = get_settings().database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database)
            if not create and not path.is_file():
                raise RegistryMissing(f"{_shown(url)}: no registry database at {path}")
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "isolation_level": None})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        from ..settings import get_settings

        # UTF-8 on the wire whatever PGCLIENTENCODING or the database's encoding say: the import sends texts
        # in binary COPY as UTF-8 bytes (registry.copybinary), which the server reads in the client encoding.
        # A database that is down or restarting (decision 1104): pre-ping replaces the pool's dead connections
        # on checkout, so the first request after a restart succeeds; a server that does not answer at all is
        # given ``connect_timeout`` seconds (libpq waits forever by default), then the request is a 503.
        timeout = get_settings().database_connect_timeout
        return create_engine(
            url,
            pool_size=10,
            max_overflow=20,
            pool_pre_ping=True,
            pool_timeout=2 * timeout,
            connect_args={"client_encoding": "utf8", "connect_timeout": timeout},
        )
    raise ValueError(f"database_url {url!r}: only sqlite:/// and postgresql+psycopg:// are supported")


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def require_schema(engine: Engine) -> None:
    """Raise RegistryMissing unless the database answers and holds the registry's schema (Alembic's table)."""
    shown = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            present = inspect(conn).has_table("alembic_version")
    except SQLAlchemyError as exc:
        raise RegistryMissing(f"{shown}: the database does not answer ({str(exc).splitlines()[0]})") from None
    if not present:
        raise RegistryMissing(f"{shown}: the database holds no registry (no schema)")


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    here = Path(__file__).parent
    cfg = Config()
    cfg.set_main_option("script_location", str(here / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@dataclass
class Database:
    """An engine plus the URL it came from; what commands and the API pass around."""

    engine: Engine

    @classmethod
    def open(cls, url: str | None = None, *, create: bool = True) -> Database:
        """``create=False``: the registry must exist already (RegistryMissing otherwise); ``init`` creates."""
        db = cls(connect(url, create=create))
        if not create:
            try:
                require_schema(db.engine)
            except RegistryMissing:
                db.engine.dispose()
                raise
        return db

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name
