"""Shared pieces of the API tests (no tests here): an app over the ``db`` fixture, keys of every role, and
helpers to read the store before and after a request."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from factories import org_id, person_id
from socialcredit.api import create_app
from socialcredit.catalogue import Catalogue
from socialcredit.keys import create_key
from socialcredit.settings import Settings
from socialcredit.store import Database
from socialcredit.store.tables import audit_log, outbox, record_events, records

SUBJECT = person_id(11)
OTHER = person_id(13)
ORG = org_id(5)


@dataclass
class Api:
    client: TestClient
    db: Database
    tokens: dict[str, str]

    def headers(self, role: str | None, purpose: str | None = "test purpose") -> dict[str, str]:
        out = {}
        if role is not None:
            out["Authorization"] = f"Bearer {self.tokens[role]}"
        if purpose is not None:
            out["X-Purpose"] = purpose
        return out

    def counts(self) -> dict[str, int]:
        with self.db.engine.connect() as conn:
            return {
                t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in (records, record_events, outbox, audit_log)
            }


def make_keys(db: Database, catalogue: Catalogue) -> dict[str, str]:
    now = dt.datetime.now(dt.UTC)
    tokens = {}
    with db.engine.begin() as conn:
        tokens["registrar"] = create_key(conn, "registrar", catalogue, now, authority="court")[1]
        tokens["registrar_other"] = create_key(conn, "registrar", catalogue, now, authority="samr")[1]
        tokens["checkpoint"] = create_key(conn, "checkpoint", catalogue, now, actions=["transport.air"])[1]
        tokens["subject"] = create_key(conn, "subject", catalogue, now, subject=SUBJECT)[1]
        tokens["subject_other"] = create_key(conn, "subject", catalogue, now, subject=OTHER)[1]
        tokens["screener"] = create_key(conn, "screener", catalogue, now)[1]
        tokens["auditor"] = create_key(conn, "auditor", catalogue, now)[1]
        tokens["admin"] = create_key(conn, "admin", catalogue, now)[1]
    return tokens


def serve(db: Database, catalogue: Catalogue, inspector: list[str] | None = None) -> Iterator[Api]:
    """Body of each API test module's ``api`` fixture: an app over ``db`` with keys of every role, and with
    ``inspector`` a checkpoint key ``tokens["inspector"]`` of those actions (the grading tests')."""
    tokens = make_keys(db, catalogue)
    if inspector is not None:
        with db.engine.begin() as conn:
            now = dt.datetime.now(dt.UTC)
            tokens["inspector"] = create_key(conn, "checkpoint", catalogue, now, actions=inspector)[1]
    app = create_app(db, catalogue, Settings(database_url=str(db.engine.url), public_rate_limit=1000))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, db, tokens)


def problem(resp: Any, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem with ``status`` and no trace; return its body."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers
    body: dict[str, Any] = resp.json()
    assert (
        body["status"] == status and body["type"].startswith("https://") and body["title"] and body["detail"]
    )
    assert "Traceback" not in resp.text and 'File "' not in resp.text
    return body


@contextlib.contextmanager
def uvicorn_in_thread(app: FastAPI) -> Iterator[str]:
    """``app`` served by a real uvicorn on a free loopback port (for browser tests); yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        sock.close()
