"""What every portal page is made of (issue 18, "fix first"), on both databases.

Pinned defects: unknown portal paths answered raw JSON; pages in Chinese were
``<html lang="en">``; the tab title and the header named the site differently; catalogue data was half
translated (categories, authorities and departments only in Chinese; measures and actions only in English).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from socialcredit.catalogue import Catalogue
from socialcredit.store import Database
from test_api_helpers import problem
from test_web import Portal, _serve, _text


@pytest.fixture
def portal(db: Database, catalogue: Catalogue) -> Iterator[Portal]:
    yield from _serve(db, catalogue)


@pytest.mark.parametrize(
    "path", ["/portal/nothing-here", "/portal/", "/portal", "/portal/search/extra", "/portal/%3Cb%3E"]
)
def test_unknown_portal_path_is_a_bilingual_html_page(portal: Portal, path: str) -> None:
    resp = portal.client.get(path)
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("text/html")
    assert "页面不存在" in resp.text and "Page not found" in resp.text
    assert "<b>" not in resp.text  # the path is shown escaped
    assert "script-src 'self'" in resp.headers["content-security-policy"]


def test_api_paths_keep_problem_json(portal: Portal) -> None:
    problem(portal.client.get("/v1/no-such-thing"), 404)


@pytest.mark.parametrize(
    "path", ["/", "/portal/search?q=王芳", "/portal/catalogue", "/portal/check", "/portal/me"]
)
def test_pages_say_their_languages_and_name_the_site_once(portal: Portal, path: str) -> None:
    html = portal.client.get(path).text
    assert '<html lang="zh-Hans">' in html
    # every English half of a bilingual label says so
    assert not re.search(r'<span class="en">', html)
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    brand = re.search(r'<a class="brand" href="/">(.*?)</a>', html, re.S)
    assert title and brand
    assert _text(title[1]).strip().endswith(_text(brand[1]).strip())
    assert "docs/decisions" not in html


def test_catalogue_data_is_in_both_languages(portal: Portal, catalogue: Catalogue) -> None:
    html = portal.client.get("/portal/catalogue").text
    measure = catalogue.memoranda["spc_2015_consumption"].measures[0]
    assert measure.title_zh and measure.title_zh in html and measure.title in html
    assert "购买机票（任何舱位）" in html and "Buy an air ticket (any class)" in html  # actions
    assert "国家税务总局" in html and "State Taxation Administration" in html  # departments
    assert all(a.title_zh for a in catalogue.actions.values())
    assert all(m.title_zh for memo in catalogue.memoranda.values() for m in memo.measures)
    assert all(a.name_en for a in catalogue.authorities.values())
    assert all(c.title_en and (c.removal is None or c.removal_zh) for c in catalogue.categories.values())
    assert all("docs/" not in (c.removal or "") for c in catalogue.categories.values())


def test_search_results_name_category_and_authority_in_both_languages(portal: Portal) -> None:
    html = portal.client.get("/portal/search", params={"q": "王芳"}).text
    assert "人民法院" in html and "The people&#39;s courts" in html
    assert "Judgment defaulter (able to perform but refusing)" in html
    assert '<div class="scroll">' in html  # the results table scrolls in its box on a narrow screen
