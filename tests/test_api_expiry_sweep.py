"""The server announces expiry by itself: a sweep appends ``expired`` for records past their end."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import select

from factories import row
from socialcredit.api.app import create_app
from socialcredit.registry import check_row, file_batch
from socialcredit.store import Database
from socialcredit.store.tables import record_events


def test_server_sweep_emits_expired_events(db: Database, catalogue, now) -> None:  # type: ignore[no-untyped-def]
    ended = row(decided_on="2020-01-02", effective_until="2020-06-30")
    with db.engine.begin() as conn:
        file_batch(conn, [check_row(ended, catalogue, now)], catalogue, "test", now)
    app = create_app(db, catalogue, expiry_every=0.05)
    with TestClient(app):
        deadline = time.monotonic() + 10
        types: list[str] = []
        while time.monotonic() < deadline and "expired" not in types:
            time.sleep(0.05)
            with db.engine.connect() as conn:
                types = list(conn.execute(select(record_events.c.type)).scalars())
    assert types == ["filed", "expired"]
