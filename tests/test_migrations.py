"""Alembic migrations: upgrading an empty database yields exactly the tables the code declares.

Covers whatever revisions exist (each area adds its own); runs on SQLite and, when configured, PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

import socialcredit.store.tables  # noqa: F401  (registers every area's tables)
from conftest import BACKENDS, PG_URL, pg_url_for
from socialcredit.store import connect, metadata, upgrade
from socialcredit.store import database as store_database


@pytest.fixture(params=BACKENDS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path, worker_id: str) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = connect(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    schema = f"scmig_{worker_id}"
    admin = connect(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = connect(pg_url_for(schema))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def test_upgrade_from_empty_matches_the_metadata(empty_engine: Engine) -> None:
    assert inspect(empty_engine).get_table_names() == []
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        diff = compare_metadata(ctx, metadata)
    assert diff == [], "migrations and tables disagree:\n" + "\n".join(map(str, diff))
    upgrade(empty_engine)  # idempotent at head


def test_revisions_form_one_linear_chain() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store_database.__file__).parent / "migrations"))
    script = ScriptDirectory.from_config(cfg)
    assert len(script.get_heads()) == 1, f"several heads: {script.get_heads()}"
    revs = list(script.walk_revisions())
    assert revs[-1].revision == "0001" and revs[-1].down_revision is None
    assert all(not isinstance(r.down_revision, tuple) for r in revs)
