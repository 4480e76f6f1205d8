"""The plans pages in a real browser at 375 px without JavaScript: they fit, and the plan's rows are there."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from playwright.sync_api import Browser

from socialcredit.catalogue import Catalogue
from socialcredit.console.auth import create_user
from socialcredit.settings import Settings
from socialcredit.store import Database
from socialcredit.supervision.inspectors import read_inspectors
from socialcredit.supervision.plan import draw
from socialcredit.supervision.store import save_plan
from test_api_helpers import uvicorn_in_thread

from .helpers import AT, inspectors, populate

PASSWORD = "correct horse battery staple"


def test_plans_fit_375px(
    browser: Browser, tmp_path: Path, sqlite_template: Path, catalogue: Catalogue, now: dt.datetime
) -> None:
    from socialcredit.api import create_app

    path = tmp_path / "registry.db"
    shutil.copy(sqlite_template, path)
    db = Database.open(f"sqlite:///{path}")
    populate(db, catalogue, now, {"A": 20, "D": 10})
    team, digest = read_inspectors(inspectors(tmp_path), "samr")
    with db.engine.connect() as conn:
        plan = draw(conn, catalogue, "samr", team, digest, "42", 2026, now + AT)
    with db.engine.begin() as conn:
        pid = save_plan(conn, plan, "cli:test", "admin", now)
        create_user(conn, "sam", "registrar", PASSWORD, catalogue, dt.datetime.now(dt.UTC), authority="samr")
    app = create_app(db, catalogue, Settings(database_url=str(db.engine.url), console_insecure_cookie=True))
    try:
        with uvicorn_in_thread(app) as url:
            ctx = browser.new_context(viewport={"width": 375, "height": 800}, java_script_enabled=False)
            try:
                page = ctx.new_page()
                page.goto(url + "/console")
                page.fill("#name", "sam")
                page.fill("#password", PASSWORD)
                page.click("main form button[type=submit]")
                page.wait_for_url(url + "/console")
                page.click("a[href='/console/supervision'] >> nth=0")
                assert page.locator(f"[data-plan='{pid}']").count() == 1
                assert page.evaluate("document.documentElement.scrollWidth") <= 375
                page.click(f"a[href='/console/supervision/{pid}']")
                assert page.locator("[data-firm]").count() == len(plan.rows) == 4
                assert page.evaluate("document.documentElement.scrollWidth") <= 375
            finally:
                ctx.close()
    finally:
        db.engine.dispose()
