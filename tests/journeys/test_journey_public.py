"""Journey (a), issue 18 point 6: a member of the public types a name in the home page's search box, sees the
listing with a masked identifier (never the full one), and opens what the portal shows of that subject."""

from __future__ import annotations

from playwright.sync_api import BrowserContext

from socialcredit.identifiers import mask

from .axe import assert_accessible
from .conftest import COMPANY, LISTED, World
from .shots import Shots


def test_a_public_search_shows_a_masked_identifier_and_the_subject(
    world: World, context: BrowserContext, shots: Shots
) -> None:
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(world.url + "/")
    shots(page, "home")
    page.locator("#q").press_sequentially("王芳", delay=30)
    page.wait_for_selector("#results .hit")
    assert page.url == world.url + "/"  # htmx swapped the results in
    shots(page, "typed")
    hit = page.locator("#results .hit").first
    text = hit.inner_text()
    assert mask(LISTED) in text and "王芳" in text
    assert "(2024)京0105民初100号" in text  # the decision number of the record
    assert LISTED not in page.content()  # the full identifier never reaches the page
    assert_accessible(page, "the home page with results")

    # The listing opens the subject's public page, addressed by a keyed reference, never by the identifier.
    hit.locator("h3 a").click()
    page.wait_for_url("**/portal/subjects/*")
    shots(page, "subject-page")
    ref = page.url.rsplit("/", 1)[1]
    assert len(ref) == 32 and LISTED not in page.url and mask(LISTED) not in page.url
    body = page.inner_text("main")
    assert "王芳" in body and mask(LISTED) in body and "(2024)京0105民初100号" in body
    assert LISTED not in page.content()
    assert_accessible(page, "the subject page")

    # The search page itself (a link anyone can share) shows the same, in English when asked.
    page.goto(world.url + "/portal/search?q=%E7%8E%8B%E8%8A%B3&lang=en")
    shots(page, "search-page-english")
    assert mask(LISTED) in page.inner_text("#results") and LISTED not in page.content()
    assert page.get_attribute("html", "lang") == "en"
    # A pinyin query finds the Chinese name through the screening matcher's name keys (decision 0610).
    page.goto(world.url + "/portal/search?q=Wang+Fang")
    assert mask(LISTED) in page.inner_text("#results")
    shots(page, "pinyin")
    # An organisation's code is public in full (it is not personal data).
    page.goto(world.url + "/portal/search?q=" + COMPANY)
    assert COMPANY in page.inner_text("#results")
    shots(page, "organisation")
    assert errors == []
