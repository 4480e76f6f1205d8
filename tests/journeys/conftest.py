"""The registry the journeys walk through: a real app under uvicorn over an SQLite file, Debian's chromium.

One world per test (journeys change the registry): a registrar of the court (``alice``) who signs in to the
console, a checkpoint key for air travel, a listed person with their own subject key, and an organisation with
a listed record. SQLite only, as the other browser tests: the stores are covered by the ``db`` tests.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext

from factories import org_id, person_id, row
from socialcredit.catalogue import Catalogue
from socialcredit.console.auth import create_user
from socialcredit.keys import create_key
from socialcredit.registry import check_row, file_batch
from socialcredit.settings import Settings, get_settings
from socialcredit.store import Database
from test_api_helpers import uvicorn_in_thread

from .shots import Shots

PASSWORD = "correct horse battery staple"
LISTED = person_id(11)  # 王芳, a judgment defaulter
COMPANY = org_id(7)
NEW_SUBJECT = person_id(51)  # filed during a journey


@dataclass
class World:
    url: str
    db: Database
    catalogue: Catalogue
    tokens: dict[str, str] = field(default_factory=dict)

    def file(self, *rows: dict[str, object]) -> None:
        now = dt.datetime.now(dt.UTC)
        with self.db.engine.begin() as conn:
            file_batch(conn, [check_row(r, self.catalogue, now) for r in rows], self.catalogue, "test", now)


@pytest.fixture
def world(
    tmp_path: Path, sqlite_template: Path, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    from socialcredit.api import create_app

    path = tmp_path / "registry.db"
    shutil.copy(sqlite_template, path)
    monkeypatch.setenv("SOCIALCREDIT_REPORT_KEY_FILE", str(tmp_path / "report.key"))
    monkeypatch.setenv("SOCIALCREDIT_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))
    monkeypatch.setenv("SOCIALCREDIT_AUDIT_HEADS_FILE", str(tmp_path / "audit-heads.jsonl"))
    get_settings.cache_clear()
    db = Database.open(f"sqlite:///{path}")
    now = dt.datetime.now(dt.UTC)
    tokens: dict[str, str] = {}
    with db.engine.begin() as conn:
        create_user(conn, "alice", "registrar", PASSWORD, catalogue, now, authority="court")
        create_user(conn, "audrey", "auditor", PASSWORD, catalogue, now)
        tokens["checkpoint"] = create_key(conn, "checkpoint", catalogue, now, actions=["transport.air"])[1]
        tokens["subject"] = create_key(conn, "subject", catalogue, now, subject=LISTED)[1]
        tokens["registrar"] = create_key(conn, "registrar", catalogue, now, authority="court")[1]
    w = World("", db, catalogue, tokens)
    w.file(
        row(subject_id=LISTED, subject_name="王芳"),
        row(
            external_id="(2025)京0105执200号",
            subject_id=COMPANY,
            subject_name="北京某某科技有限公司",
            decision_no="(2024)京0105民初200号",
        ),
    )
    settings = Settings(
        database_url=str(db.engine.url),
        public_rate_limit=1000,
        console_insecure_cookie=True,  # plain HTTP on 127.0.0.1, the documented development setting
        report_key_file=str(tmp_path / "report.key"),
    )
    app = create_app(db, catalogue, settings)
    try:
        with uvicorn_in_thread(app) as url:
            w.url = url
            yield w
    finally:
        db.engine.dispose()
        get_settings.cache_clear()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser context (cookies, storage) per test, downloads accepted, a laptop's screen."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True, locale="zh-CN")
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest, tmp_path: Path) -> Shots:
    return Shots(request.node.name, tmp_path / "journeys")
