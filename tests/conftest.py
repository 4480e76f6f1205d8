"""Fixture strategy.

Every test that takes ``db`` runs twice: on SQLite (always) and on PostgreSQL (when
``SOCIALCREDIT_TEST_DATABASE_URL`` is set, as .ci/run does). No database is mocked.

* SQLite: the schema is migrated once per session into a template file; each test gets a fresh copy (cheap).
* PostgreSQL: each xdist worker migrates its own schema once (``search_path`` set on connect) and each test
  starts from truncated tables, so tests never see each other's rows.

``catalogue`` is the shipped default catalogue, loaded once. ``now`` is a fixed instant so tests never race the
clock; code under test takes ``now`` explicitly wherever time matters.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, text

import ast_guard
from socialcredit.audit import WITNESS
from socialcredit.catalogue import Catalogue, load_catalogue
from socialcredit.store import Database, connect, metadata, upgrade

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ast_guard.install()

PG_URL = os.environ.get("SOCIALCREDIT_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture
def now() -> dt.datetime:
    return dt.datetime(2026, 11, 20, 4, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = connect(f"sqlite:///{path}")
    upgrade(engine)
    raw = engine.raw_connection()  # outside any transaction: the "begin" hook would take a write lock
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
    finally:
        raw.close()
    engine.dispose()
    return path


def _pg_schema(run: str, worker: str) -> str:
    # One schema per test run and worker: two runs at once (two developers, CI) never share tables.
    return f"sctest_{run[:10]}_{worker}"


@pytest.fixture(scope="session")
def pg_engine(worker_id: str, testrun_uid: str) -> Iterator[Engine]:
    if not PG_URL:
        pytest.skip("SOCIALCREDIT_TEST_DATABASE_URL is not set")
    schema = _pg_schema(testrun_uid, worker_id)
    admin = connect(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    url = pg_url_for(schema)
    engine = connect(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    admin = connect(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


def pg_url_for(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A URL to an empty, migrated database of each backend."""
    if request.param == "sqlite":
        path = tmp_path / "registry.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    engine: Engine = request.getfixturevalue("pg_engine")
    with engine.begin() as conn:
        names = ", ".join(t.name for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    worker = request.getfixturevalue("worker_id")
    return pg_url_for(_pg_schema(request.getfixturevalue("testrun_uid"), worker))


@pytest.fixture
def db(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database; ``SOCIALCREDIT_DATABASE_URL`` points at it for code that reads settings."""
    monkeypatch.setenv("SOCIALCREDIT_DATABASE_URL", db_url)
    # Signed audit heads of this database only (the default for PostgreSQL is var/ in the working directory).
    monkeypatch.setenv("SOCIALCREDIT_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))
    monkeypatch.setenv("SOCIALCREDIT_AUDIT_HEADS_FILE", str(tmp_path / "audit-heads.jsonl"))
    from socialcredit.settings import get_settings

    get_settings.cache_clear()
    database = Database.open(db_url)
    # The process-wide witness of appends is keyed by URL, and a worker's PostgreSQL URL is the same for every
    # test: an earlier test's appends, left unvouched, would be signed into this test's heads by its first CLI
    # command (a head claiming entries its truncated table never had).
    WITNESS.take(database.engine.url)
    yield database
    WITNESS.take(database.engine.url)
    database.engine.dispose()
    get_settings.cache_clear()


# -- the browser ---------------------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    """Skip where Debian's chromium is missing, except in CI (CI=true), where .ci/run installs it."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but /usr/bin/chromium is missing (.ci/run installs it)")
        pytest.skip(
            "/usr/bin/chromium is not installed (apt-get install chromium); CI runs the browser tests"
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless chromium per test module, driven by Playwright; nothing downloads a browser: Playwright
    launches Debian's /usr/bin/chromium. Each test opens its own context. Not per session: Playwright's sync API
    keeps an event loop running in the thread while it is started, and later modules of the same worker call
    ``asyncio.run`` (NATS, the audit writer)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()
