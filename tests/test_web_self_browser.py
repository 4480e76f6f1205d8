"""Self-service in a real browser with JavaScript off, at 375 px (decision 0615): sign in with a subject key,
object with a PDF, see its digest and the decision's due date, sign out. Skipped where /usr/bin/chromium is
missing, except in CI (CI=true). SQLite only: the store is covered by tests/test_web_self.py."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from factories import person_id, row
from socialcredit.catalogue import Catalogue
from socialcredit.keys import create_key
from socialcredit.registry import check_row, file_batch
from socialcredit.settings import Settings
from socialcredit.store import Database
from test_api_helpers import uvicorn_in_thread

SUBJECT = person_id(41)
PDF = b"%PDF-1.4\n% evidence\n%%EOF\n"


@pytest.fixture
def served(tmp_path: Path, sqlite_template: Path, catalogue: Catalogue) -> Iterator[tuple[str, str]]:
    from socialcredit.api import create_app

    path = tmp_path / "registry.db"
    shutil.copy(sqlite_template, path)
    db = Database.open(f"sqlite:///{path}")
    now = dt.datetime.now(dt.UTC)
    with db.engine.begin() as conn:
        rows = [row(subject_id=SUBJECT, subject_name="张无忌")]
        file_batch(conn, [check_row(r, catalogue, now) for r in rows], catalogue, "test", now)
        token = create_key(conn, "subject", catalogue, now, subject=SUBJECT)[1]
    app = create_app(db, catalogue, Settings(database_url=str(db.engine.url)))
    try:
        with uvicorn_in_thread(app) as url:
            yield url.replace("127.0.0.1", "localhost"), token
    finally:
        db.engine.dispose()


def test_subject_objects_with_evidence_without_javascript_at_375px(
    browser: Browser, served: tuple[str, str], tmp_path: Path
) -> None:
    url, token = served
    evidence = tmp_path / "receipt.pdf"
    evidence.write_bytes(PDF)
    context = browser.new_context(viewport={"width": 375, "height": 800}, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(url + "/portal/me")
        page.fill("#token", token)
        page.click("form[action='/portal/me'] button[type=submit]")
        assert "张无忌" in page.content(), page.inner_text("main")
        assert token not in page.content()
        [cookie] = [c for c in context.cookies() if c["name"] == "sc_portal"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["secure"]
        page.click("details.act summary")
        page.fill("textarea[name=grounds]", "已履行完毕，附收据")
        page.set_input_files("input[name=file]", str(evidence))
        page.click("details.act button[type=submit]")
        html = page.content()
        assert hashlib.sha256(PDF).hexdigest() in html and "decision due by" in html
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways at 375 px ({width} px wide)"
        page.screenshot(path=str(tmp_path / "self-service-375.png"), full_page=True)
        page.click("form[action='/portal/me/sign-out'] button")
        assert page.locator("#token").count() == 1  # back at the sign-in form
    finally:
        context.close()
