"""The portal in a real browser: uvicorn in a thread, Debian's chromium driven by Playwright.

Typing in the home page's search box must bring htmx results without a page load, with masked identifiers
only. Skipped where /usr/bin/chromium is missing, except in CI (CI=true), where .ci/run installs it and the
test must run. SQLite only: the browser checks the page's behaviour, the databases are covered elsewhere.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from factories import person_id, row
from socialcredit.catalogue import Catalogue
from socialcredit.identifiers import mask
from socialcredit.registry import check_row, file_batch
from socialcredit.settings import Settings
from socialcredit.store import Database
from test_api_helpers import uvicorn_in_thread

LISTED = person_id(11)
OTHER = person_id(13)


@pytest.fixture
def server(tmp_path: Path, sqlite_template: Path, catalogue: Catalogue) -> Iterator[str]:
    """The app on an ephemeral port over an SQLite registry with two listed people; its base URL."""
    from socialcredit.api import create_app

    path = tmp_path / "registry.db"
    shutil.copy(sqlite_template, path)
    db = Database.open(f"sqlite:///{path}")
    now = dt.datetime.now(dt.UTC)
    rows = [
        row(subject_id=LISTED, subject_name="王芳"),
        row(external_id="b-2", subject_id=OTHER, subject_name="王芳芳", decision_no="(2024)京0105民初101号"),
    ]
    with db.engine.begin() as conn:
        file_batch(conn, [check_row(r, catalogue, now) for r in rows], catalogue, "test", now)
    app = create_app(db, catalogue, Settings(database_url=str(db.engine.url), public_rate_limit=1000))
    try:
        with uvicorn_in_thread(app) as url:
            yield url
    finally:
        db.engine.dispose()


def test_typing_in_the_search_box_shows_masked_results(browser: Browser, server: str, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(server + "/")
        page.locator("#q").press_sequentially("王芳", delay=30)
        page.wait_for_selector("#results .hit", timeout=10_000)
        assert page.url == server + "/"  # htmx swapped the results in; no navigation
        results = page.inner_text("#results")
        assert mask(LISTED) in results and mask(OTHER) in results
        content = page.content()
        assert LISTED not in content and OTHER not in content
        page.screenshot(path=str(tmp_path / "search.png"), full_page=True)
        assert (tmp_path / "search.png").stat().st_size > 0
        assert errors == []  # no CSP violation, no failed request

        # A refused check (401) is swapped in too, and the token stays out of the URL and the page.
        page.goto(server + "/portal/check")
        page.fill("#token", "sc_0123456789abcdef_wrong")
        page.fill("#purpose", "boarding check")
        page.fill("#subject", LISTED)
        page.fill("#action", "transport.air.ticket")
        page.click("main form button[type=submit]")
        page.wait_for_selector("#decision [role=alert]", timeout=10_000)
        assert page.url == server + "/portal/check"
        assert "wrong" not in page.inner_text("#decision")
    finally:
        context.close()


@pytest.mark.parametrize(
    "path", ["/portal/search?q=%E7%8E%8B%E8%8A%B3", "/portal/catalogue", "/portal/check", "/"]
)
def test_pages_fit_a_375_pixel_screen(browser: Browser, server: str, path: str) -> None:
    """Issue 18: at 375 px the results table overflowed sideways; tables now scroll inside their box."""
    context = browser.new_context(viewport={"width": 375, "height": 800})
    try:
        page = context.new_page()
        page.goto(server + path)
        if "search" in path:
            page.wait_for_selector("#results .hit table")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, width
    finally:
        context.close()
