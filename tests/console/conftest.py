"""The console through the app's TestClient over https (its cookie is Secure), on both databases."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from socialcredit.api import create_app
from socialcredit.catalogue import Catalogue
from socialcredit.console.auth import create_user
from socialcredit.settings import Settings
from socialcredit.store import Database
from socialcredit.store.tables import audit_log

PASSWORD = "correct horse battery staple"
LOCKOUT = 3


@dataclass
class Console:
    client: TestClient
    db: Database

    def sign_in(self, name: str, password: str = PASSWORD) -> int:
        form = self.client.get("/console/login")
        pre = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert pre is not None
        resp = self.client.post(
            "/console/login",
            data={"csrf": pre.group(1), "name": name, "password": password},
            follow_redirects=False,
        )
        return resp.status_code

    def csrf(self, path: str = "/console") -> str:
        m = re.search(r'name="csrf" value="([^"]+)"', self.client.get(path).text)
        assert m is not None, "no CSRF token on the page (not signed in?)"
        return m.group(1)

    def audit(self, action: str) -> list[tuple[str, str, str]]:
        with self.db.engine.connect() as conn:
            q = select(audit_log.c.actor, audit_log.c.target, audit_log.c.outcome)
            return [
                tuple(r)
                for r in conn.execute(q.where(audit_log.c.action == action).order_by(audit_log.c.seq))
            ]


def make_users(db: Database, catalogue: Catalogue) -> None:
    now = dt.datetime.now(dt.UTC)
    with db.engine.begin() as conn:
        create_user(conn, "alice", "registrar", PASSWORD, catalogue, now, authority="court")
        create_user(conn, "ned", "registrar", PASSWORD, catalogue, now, authority="ndrc")
        create_user(conn, "audrey", "auditor", PASSWORD, catalogue, now)


@pytest.fixture
def console(db: Database, catalogue: Catalogue) -> Iterator[Console]:
    make_users(db, catalogue)
    settings = Settings(database_url=str(db.engine.url), console_lockout_failures=LOCKOUT)
    app = create_app(db, catalogue, settings)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=True) as client:
        yield Console(client, db)
