"""The SQLite store's settings: write-ahead log, and 8 KB pages for a new database while an existing one keeps
the page size it was made with (SQLite cannot change it under a write-ahead log)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text

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
    assert SQLITE_PAGE_SIZE == 8192
    assert _pragma(path, "page_size") == 8192 and _pragma(path, "journal_mode") == "wal"


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
