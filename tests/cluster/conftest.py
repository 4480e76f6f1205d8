"""Fixture strategy for the failure tests (issue 20 point 5).

One private PostgreSQL cluster per session (per xdist worker: initdb takes seconds; tests that stop it start it
again before they end), each test or module with a database of its own in it, and a nats-server of its own for
each test or module that uses NATS. Everything here is a real process started through the CLI; nothing is mocked.

They run on the PostgreSQL path of ``make test`` (``SOCIALCREDIT_TEST_DATABASE_URL`` set, as .ci/run does):
what they test is the system of record going away and coming back, which SQLite, a file in the server's
process, does not do. On the SQLite-only path they are skipped with that reason. Missing binaries fail in CI
(``CI=true``) and skip elsewhere.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from socialcredit.store import connect, upgrade

from .harness import PrivateNats, PrivatePostgres, missing_binaries


def _require() -> None:
    if not os.environ.get("SOCIALCREDIT_TEST_DATABASE_URL"):
        pytest.skip("failure tests run on the PostgreSQL path (SOCIALCREDIT_TEST_DATABASE_URL unset)")
    missing = missing_binaries()
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"failure tests need {', '.join(missing)} (required in CI)")
        pytest.skip(f"failure tests need {', '.join(missing)}")


@pytest.fixture(scope="session")
def pg() -> Iterator[PrivatePostgres]:
    _require()
    server = PrivatePostgres()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def nats_private() -> Iterator[PrivateNats]:
    _require()
    server = PrivateNats()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def workdir() -> Iterator[Path]:
    """Where the processes keep their logs, keys and snapshots (kept when a test fails, for its logs)."""
    path = Path(tempfile.mkdtemp(prefix="sc-cluster-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def registry(pg: PrivatePostgres) -> Iterator[tuple[str, Engine]]:
    """A fresh, migrated registry database in the private cluster: its URL and an engine on it."""
    url = pg.create_database(f"registry_{secrets.token_hex(4)}")
    engine = connect(url)
    upgrade(engine)
    yield url, engine
    engine.dispose()
