"""Shared by the self-service tests: a portal served over https with a few records, keys and a signed-in
subject (the session cookie is Secure, so the test client speaks https)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from factories import person_id, row
from process_helpers import food_row
from socialcredit.api import create_app
from socialcredit.catalogue import Catalogue
from socialcredit.keys import create_key
from socialcredit.registry import check_row, file_batch
from socialcredit.settings import Settings
from socialcredit.store import Database
from socialcredit.store.tables import audit_log, objections, outbox, record_events, repair_requests
from socialcredit.store.tables_selfservice import evidence

SUBJECT = person_id(31)
OTHER = person_id(33)
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
MAX_BYTES = 4096


@dataclass
class Self:
    client: TestClient
    db: Database
    tokens: dict[str, str]
    records: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        with self.db.engine.connect() as conn:
            return {
                t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in (objections, repair_requests, evidence, record_events, outbox)
            }

    def audit_actions(self) -> list[tuple[str, str]]:
        with self.db.engine.connect() as conn:
            return [(r.action, r.outcome) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq))]

    def sign_in(self, who: str = "subject", client: TestClient | None = None) -> str:
        """Sign in; returns the page's CSRF token."""
        c = client or self.client
        resp = c.post("/portal/me", data={"token": self.tokens[who]})
        assert resp.status_code == 200, resp.text
        return csrf_of(resp.text)

    def post(self, path: str, fields: dict[str, str], file: tuple[str, bytes, str] | None = None) -> Any:
        files = {"file": file} if file is not None else {"file": ("", b"", "application/octet-stream")}
        return self.client.post(path, data=fields, files=files)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def serve(db: Database, catalogue: Catalogue) -> Iterator[Self]:
    now = dt.datetime.now(dt.UTC)
    rows = [
        row(external_id="court-1", subject_id=SUBJECT, subject_name="赵敏"),
        food_row(external_id="FD-31", subject_id=SUBJECT, subject_name="赵敏", decided_on="2025-06-01"),
        row(external_id="court-2", subject_id=OTHER, subject_name="周芷若"),
    ]
    with db.engine.begin() as conn:
        outcomes = file_batch(conn, [check_row(r, catalogue, now) for r in rows], catalogue, "test", now)
        ids = [o.record_id for o in outcomes]
        tokens = {
            "subject": create_key(conn, "subject", catalogue, now, subject=SUBJECT)[1],
            "other": create_key(conn, "subject", catalogue, now, subject=OTHER)[1],
            "court": create_key(conn, "registrar", catalogue, now, authority="court")[1],
            "samr": create_key(conn, "registrar", catalogue, now, authority="samr")[1],
            "court_higher": create_key(conn, "registrar", catalogue, now, authority="court_higher")[1],
            "checkpoint": create_key(conn, "checkpoint", catalogue, now, actions=["transport.air"])[1],
            "auditor": create_key(conn, "auditor", catalogue, now)[1],
            "admin": create_key(conn, "admin", catalogue, now)[1],
        }
    settings = Settings(database_url=str(db.engine.url), evidence_max_bytes=MAX_BYTES)
    app = create_app(db, catalogue, settings)
    with TestClient(app, base_url="https://testserver") as client:
        yield Self(client, db, tokens, {"court": ids[0], "food": ids[1], "other": ids[2]})
