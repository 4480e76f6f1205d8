"""Issue 18 point 5 in the browser: every page of the portal and the console in Chinese, in English and in
both (decision 0620), the switch visible on each, and axe-core finding no WCAG 2.1 A/AA violation on any."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page

from .axe import assert_accessible
from .conftest import LISTED, PASSWORD, World
from .shots import Shots

PORTAL = [
    "/",
    "/portal/search?q=%E7%8E%8B%E8%8A%B3",
    "/portal/search?q=x",
    "/portal/catalogue",
    "/portal/check",
    "/portal/me",
    "/portal/grade",
    "/portal/lists",
    "/portal/lists/court.judgment_defaulter",
    "/portal/stats",
    "/verify",
    "/portal/no-such-page",
]
REGISTRAR = [
    "/console",
    "/console/records/new",
    "/console/queues",
    "/console/catalogue",
    "/console/supervision",
]
AUDITOR = ["/console/audit"]
HTML_LANG = {"zh": "zh-Hans", "en": "en", "both": "zh-Hans"}


def _sign_in(page: Page, world: World, name: str) -> None:
    page.goto(world.url + "/console/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(world.url + "/console")


def _visit(page: Page, url: str, lang: str) -> None:
    sep = "&" if "?" in url else "?"
    page.goto(f"{url}{sep}lang={lang}")
    assert page.get_attribute("html", "lang") == HTML_LANG[lang], url
    switch = page.locator("nav.lang-switch a")
    assert switch.count() == 2 and switch.first.is_visible(), f"{url}: no visible language switch"
    assert_accessible(page, f"{url} ({lang})")


@pytest.mark.parametrize("lang", ["zh", "en", "both"])
def test_every_portal_page_in_each_language_passes_axe(
    world: World, context: BrowserContext, lang: str
) -> None:
    page = context.new_page()
    for path in PORTAL:
        _visit(page, world.url + path, lang)
    # The pages that answer a form: a check's decision and a subject's file.
    page.goto(world.url + "/portal/check")
    page.fill("#token", world.tokens["checkpoint"])
    page.fill("#purpose", "boarding check CA1234")
    page.fill("#subject", LISTED)
    page.fill("#action", "transport.air.ticket")
    page.click("main form button[type=submit]")
    page.wait_for_selector("#decision .decision")
    assert_accessible(page, f"a check's decision ({lang})")
    page.goto(world.url + "/portal/me")
    page.fill("#token", world.tokens["subject"])
    page.click("main form button[type=submit]")
    page.wait_for_selector(".record, article")
    assert_accessible(page, f"a subject's file ({lang})")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_console_page_in_each_language_passes_axe(
    world: World, context: BrowserContext, lang: str
) -> None:
    page = context.new_page()
    _visit(page, world.url + "/console/login", lang)
    _sign_in(page, world, "alice")
    for path in REGISTRAR:
        _visit(page, world.url + path, lang)
    context.clear_cookies()
    _sign_in(page, world, "audrey")
    for path in AUDITOR:
        _visit(page, world.url + path, lang)


def test_the_switch_changes_the_language_and_the_cookie_keeps_it(
    world: World, context: BrowserContext, shots: Shots
) -> None:
    page = context.new_page()
    page.goto(world.url + "/portal/search?q=%E7%8E%8B%E8%8A%B3")
    shots(page, "both-languages")
    assert "公示信息查询" in page.inner_text("h1") and "Search published listings" in page.inner_text("h1")
    page.click("nav.lang-switch a[hreflang=en]")
    page.wait_for_url("**lang=en")
    shots(page, "english")
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("h1") == "Search published listings"
    assert page.input_value("#q") == "王芳"  # the query was kept
    # A Chinese name on the English page is tagged as Chinese (screen readers switch voice).
    assert page.locator("#results h3 [lang=zh-Hans]").first.inner_text() == "王芳"
    (cookie,) = [c for c in context.cookies() if c["name"] == "lang"]
    assert cookie["value"] == "en" and cookie["sameSite"] == "Lax" and cookie["httpOnly"]
    # The cookie keeps the choice on the next page, without ?lang=, in the console too.
    page.goto(world.url + "/portal/catalogue")
    assert page.get_attribute("html", "lang") == "en" and "措施目录" not in page.inner_text("h1")
    page.goto(world.url + "/console/login")
    assert page.get_attribute("html", "lang") == "en"
    page.click("nav.lang-switch a[hreflang=zh-Hans][lang=zh-Hans]")
    shots(page, "console-chinese")
    assert page.get_attribute("html", "lang") == "zh-Hans"
    assert "English" not in page.inner_text("main")
    page.goto(world.url + "/?lang=fr")  # not a language of the portal: ignored, the cookie stays
    assert page.get_attribute("html", "lang") == "zh-Hans"
    assert [c["value"] for c in context.cookies() if c["name"] == "lang"] == ["zh"]


@pytest.mark.parametrize("path", ["/portal/search?q=%E7%8E%8B%E8%8A%B3", "/console/login"])
def test_the_keyboard_reaches_the_content_and_the_switch(
    world: World, context: BrowserContext, path: str
) -> None:
    """Tab first reaches the skip link, which moves focus to the content; the language switch is reachable
    by Tab and shows where the focus is."""
    page = context.new_page()
    page.goto(world.url + path)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    page.goto(world.url + path)
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("!!document.activeElement.closest('nav.lang-switch')"):
            break
    else:
        raise AssertionError(f"{path}: the language switch is not reachable by Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused switch link shows no focus outline"
    page.keyboard.press("Enter")
    page.wait_for_url("**lang=*")
