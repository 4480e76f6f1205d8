"""Both languages on every page (issue 18 point 5, decision 0620), through the app's TestClient.

``?lang=zh|en|both`` chooses and is kept in the ``lang`` cookie (SameSite=Lax, HttpOnly, Secure over https);
without a choice pages stay bilingual. The API's JSON is untouched. The switch link never carries a secret from
the URL into the page, and a value that is not a language is ignored rather than refused or reflected.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from factories import row
from socialcredit.api import create_app
from socialcredit.catalogue import Catalogue
from socialcredit.registry import check_row, file_batch
from socialcredit.settings import Settings
from socialcredit.store import Database
from socialcredit.web import language

PAGES = [
    "/",
    "/portal/search?q=%E7%8E%8B%E8%8A%B3",
    "/portal/catalogue",
    "/portal/check",
    "/portal/me",
    "/portal/grade",
    "/portal/lists",
    "/portal/lists/court.judgment_defaulter",
    "/portal/stats",
    "/verify",
    "/portal/nowhere",
    "/console/login",
]


@pytest.fixture
def client(db: Database, catalogue: Catalogue) -> Iterator[TestClient]:
    at = dt.datetime.now(dt.UTC)
    with db.engine.begin() as conn:
        file_batch(conn, [check_row(row(), catalogue, at)], catalogue, "test", at)
    app = create_app(db, catalogue, Settings(database_url=str(db.engine.url), public_rate_limit=1000))
    with TestClient(app, base_url="https://testserver") as c:
        yield c


def _html_lang(text: str) -> str:
    m = re.search(r'<html lang="([^"]+)"', text)
    assert m is not None
    return m.group(1)


def _h1(text: str) -> str:
    m = re.search(r"<h1>(.*?)</h1>", text, re.S)
    assert m is not None
    return re.sub(r"<[^>]+>", "", m.group(1)).strip()


@pytest.mark.parametrize("path", PAGES)
def test_every_page_in_each_language_with_its_switch(client: TestClient, path: str) -> None:
    sep = "&" if "?" in path else "?"
    both = client.get(path)
    assert _html_lang(both.text) == "zh-Hans" and 'lang="en"' in both.text  # no choice: bilingual
    zh = client.get(f"{path}{sep}lang=zh")
    en = client.get(f"{path}{sep}lang=en")
    assert _html_lang(zh.text) == "zh-Hans" and _html_lang(en.text) == "en"
    assert not re.search(r"[A-Za-z]{4,}", _h1(zh.text)), _h1(zh.text)
    assert not re.search(r"[\u4e00-\u9fff]", _h1(en.text)), _h1(en.text)
    for resp, others in ((zh, ("en", "both")), (en, ("zh", "both"))):
        links = re.findall(r'<nav class="lang-switch".*?</nav>', resp.text, re.S)
        assert len(links) == 1, "one language switch per page"
        for other in others:
            assert f"lang={other}" in links[0]


def test_the_choice_is_kept_in_a_lax_cookie(client: TestClient) -> None:
    resp = client.get("/portal/catalogue?lang=en")
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith("lang=en;")
    for attribute in ("Path=/", "SameSite=Lax", "HttpOnly", "Secure", "Max-Age=31536000"):
        assert attribute in cookie
    assert "Cookie" in resp.headers["vary"]
    # The next page, without ?lang=, follows the cookie; a page without ?lang= sets none.
    nxt = client.get("/portal/check")
    assert _html_lang(nxt.text) == "en" and "set-cookie" not in nxt.headers
    assert _html_lang(client.get("/console/login").text) == "en"
    # Back to both languages.
    assert _html_lang(client.get("/?lang=both").text) == "zh-Hans"
    assert 'lang="en"' in client.get("/portal/check").text


@pytest.mark.parametrize(
    "value",
    ["fr", "", "EN\r\nSet-Cookie: x=1", "en;Path=/evil", "zh" * 500, "<script>", "en-US"],
)
def test_a_value_that_is_not_a_language_is_ignored(client: TestClient, value: str) -> None:
    resp = client.get("/portal/catalogue", params={"lang": value})
    assert resp.status_code == 200
    assert "set-cookie" not in resp.headers
    assert _html_lang(resp.text) == "zh-Hans"
    assert "<script>" not in resp.text.split("<body>", 1)[1].replace('<script src="/static/htmx.min.js"', "")


def test_a_forged_cookie_is_ignored(client: TestClient) -> None:
    for value in ("de", '"en', "en\x00", "x" * 5000):
        client.cookies.clear()
        resp = client.get("/portal/check", headers={"Cookie": f"lang={value}"})
        assert resp.status_code == 200 and _html_lang(resp.text) == "zh-Hans"


def test_the_switch_never_carries_a_secret_from_the_url(client: TestClient) -> None:
    secret = "sc_0123456789abcdef_secretpart"
    resp = client.get(
        "/portal/check", params={"token": secret, "api_key": secret, "csrf": secret, "q": "王芳"}
    )
    assert secret not in resp.text
    assert "q=%E7%8E%8B%E8%8A%B3" in resp.text  # other parameters are kept
    many = "&".join(f"f{i}=v" for i in range(50))
    assert client.get(f"/portal/search?{many}").status_code == 200


def test_the_api_is_untouched(client: TestClient) -> None:
    resp = client.get("/v1/catalogue?lang=en")
    assert resp.status_code == 200 and "set-cookie" not in resp.headers
    assert "Cookie" not in resp.headers.get("vary", "")


def test_data_in_the_chosen_language(client: TestClient, catalogue: Catalogue) -> None:
    """Categories, authorities and measures by their English names on an English page, Chinese on a
    Chinese one; a name the data has only in Chinese (a person's) is tagged ``lang="zh-Hans"``."""
    cat = catalogue.categories["court.judgment_defaulter"]
    court = catalogue.authorities["court"]
    en = client.get("/portal/search?q=%E7%8E%8B%E8%8A%B3&lang=en").text
    assert cat.title_en and cat.title_en in en and cat.title not in en
    assert court.name_en and str(escape(court.name_en)) in en
    assert '<span lang="zh-Hans">王芳</span>' in en
    zh = client.get("/portal/search?q=%E7%8E%8B%E8%8A%B3&lang=zh").text
    assert cat.title in zh and cat.title_en not in zh


def test_labels_outside_a_request() -> None:
    token = language.using("en")
    try:
        assert (
            language.bi("中", "en") == "en" and language.pick("核查 Checkpoint check") == "Checkpoint check"
        )
        assert language.bn(("王芳", "王芳")) == '<span lang="zh-Hans">王芳</span>'
    finally:
        language._current.reset(token)
    assert language.pick("核查 Checkpoint check") == "核查 Checkpoint check"
    assert (
        language.bi("中", "<b>")
        == '<span lang="zh-Hans">中</span> <span class="en" lang="en">&lt;b&gt;</span>'
    )
