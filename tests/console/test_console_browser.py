"""The console in a real browser at 375 px, with JavaScript off: sign in, a refused filing with its inline
error, a filing, the queues, sign out. Pins pages that need JavaScript, overflow a phone's width, or break the
CSP. Skipped where /usr/bin/chromium is missing, except in CI. SQLite only (the stores are covered elsewhere).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from factories import person_id
from socialcredit.catalogue import Catalogue
from socialcredit.console.auth import create_user
from socialcredit.settings import Settings
from socialcredit.store import Database
from test_api_helpers import uvicorn_in_thread

from .conftest import PASSWORD


@pytest.fixture
def server(tmp_path: Path, sqlite_template: Path, catalogue: Catalogue) -> Iterator[str]:
    from socialcredit.api import create_app

    path = tmp_path / "registry.db"
    shutil.copy(sqlite_template, path)
    db = Database.open(f"sqlite:///{path}")
    with db.engine.begin() as conn:
        create_user(
            conn, "alice", "registrar", PASSWORD, catalogue, dt.datetime.now(dt.UTC), authority="court"
        )
    # Plain HTTP on 127.0.0.1: the documented development setting (docs/console.md).
    settings = Settings(database_url=str(db.engine.url), console_insecure_cookie=True)
    app = create_app(db, catalogue, settings)
    try:
        with uvicorn_in_thread(app) as url:
            yield url
    finally:
        db.engine.dispose()


def test_console_works_at_375px_without_javascript(browser: Browser, server: str) -> None:
    def fits(page: Page) -> None:
        width = page.evaluate("document.documentElement.scrollWidth")  # Playwright's, not the page's, script
        assert width <= 375, f"{page.url} is {width} px wide"

    context = browser.new_context(viewport={"width": 375, "height": 800}, java_script_enabled=False)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(server + "/console")
        page.fill("#name", "alice")
        page.fill("#password", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url(server + "/console")
        fits(page)
        page.goto(server + "/console/records/new")
        fill = {
            "external_id": "B-1",
            "subject_id": person_id(51),
            "subject_name": "赵敏",
            "decision_no": "(2024)京0105民初9号",
            "decided_on": "2025-02-30",
        }
        for name, value in fill.items():
            page.fill(f"#f-{name}", value)
        page.select_option("#f-category", "court.judgment_defaulter")
        page.click("form[action='/console/records'] button[type=submit]")
        assert page.locator("#e-decided_on").inner_text().startswith("decided_on:")
        fits(page)
        page.fill("#f-decided_on", "2025-02-28")
        page.click("form[action='/console/records'] button[type=submit]")
        assert "filed" in page.inner_text("[role=status]")
        page.goto(server + "/console/queues")
        fits(page)
        page.goto(server + "/console/supervision")
        fits(page)
        page.click("header form button[type=submit]")  # sign out
        page.wait_for_url(server + "/console/login")
        page.goto(server + "/console/queues")
        assert page.locator("#password").count() == 1
        # The 401 of the sign-in page and the 422 of the refused form are logged as failed loads; anything
        # else (a CSP violation, a missing file) is a fault.
        assert [e for e in errors if "status of 401" not in e and "status of 422" not in e] == []
    finally:
        context.close()
