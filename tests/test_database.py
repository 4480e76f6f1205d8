"""The stores' connection settings. SQLite: write-ahead log, and 8 KB pages for a new database while an existing
one keeps the page size it was made with (SQLite cannot change it under a write-ahead log). PostgreSQL: UTF-8 on
the wire whatever the environment says (the import sends binary COPY texts as UTF-8)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from conftest import PG_URL
from socialcredit.store import connect, upgrade
from socialcredit.store.database import SQLITE_PAGE_SIZE


def _pragma(path: Path, name: str) -> object:
    engine = connect(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return conn.execute(text(f"PRAGMA {name}")).scalar_one()
    finally:
        engine.dispose()


def test_a_new_store_has_8k_pages_and_a_write_ahead_log(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    upgrade(connect(f"sqlite:///{path}"))
    assert _pragma(path, "page_size") == SQLITE_PAGE_SIZE == 8192 and _pragma(path, "journal_mode") == "wal"


def test_an_existing_store_keeps_its_page_size_and_upgrades(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA page_size=4096")
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("CREATE TABLE kept (x INTEGER)")
    raw.execute("INSERT INTO kept VALUES (7)")
    raw.commit()
    raw.close()
    engine = connect(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT x FROM kept")).scalar_one() == 7
        assert conn.execute(text("SELECT count(*) FROM records")).scalar_one() == 0
    engine.dispose()
    assert _pragma(path, "page_size") == 4096


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL not configured (SOCIALCREDIT_TEST_DATABASE_URL)")
def test_postgresql_talks_utf8_whatever_the_environment_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGCLIENTENCODING", "GBK")
    engine = connect(PG_URL)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW client_encoding")).scalar_one() == "UTF8"
            # A text outside GBK (an emoji) comes back whole.
            assert conn.execute(text("SELECT CAST(:t AS text)"), {"t": "张三 🙂"}).scalar_one() == "张三 🙂"
    finally:
        engine.dispose()
