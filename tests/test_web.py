"""The portal's HTML pages through the app's TestClient, on both databases.

Each test files a few records (registry.check_row + file_batch, at the real clock, since the API reads it) and
asserts what each audience sees: the public only masked, public, in-force listings; a checkpoint operator only
the decision and its reasons; a subject its whole file. Tokens must never come back in a page.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from factories import org_id, person_id, row
from socialcredit.api import create_app
from socialcredit.api.routers.public import MAX_PAGES
from socialcredit.catalogue import Catalogue
from socialcredit.identifiers import mask
from socialcredit.keys import create_key
from socialcredit.registry import check_row, file_batch, revoke
from socialcredit.settings import Settings
from socialcredit.store import Database
from socialcredit.store.tables import audit_log, outbox, record_events, records

LISTED = person_id(11)  # judgment defaulter in force: public
ORG = org_id(5)  # organisation in force, with a legal representative
REP = person_id(15)
WATCHED = person_id(17)  # key-attention list: not a public category
EXPIRED = person_id(19)  # a two-year listing from 2022: expired
REVOKED = person_id(21)  # revoked after filing
HOSTILE = person_id(23)  # a name with markup in it


@dataclass
class Portal:
    client: TestClient
    db: Database
    tokens: dict[str, str]

    def counts(self) -> dict[str, int]:
        with self.db.engine.connect() as conn:
            return {
                t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in (records, record_events, outbox, audit_log)
            }


def _file(db: Database, catalogue: Catalogue, rows: list[dict[str, Any]]) -> list[int]:
    now = dt.datetime.now(dt.UTC)
    with db.engine.begin() as conn:
        outcomes = file_batch(conn, [check_row(r, catalogue, now) for r in rows], catalogue, "test", now)
    return [o.record_id for o in outcomes]


def _rows() -> list[dict[str, Any]]:
    return [
        row(subject_id=LISTED, subject_name="王芳"),
        row(
            external_id="org-1",
            subject_id=ORG,
            subject_name="北京王芳科技有限公司",
            legal_representative_id=REP,
            legal_representative_name="李强",
        ),
        row(
            external_id="watch-1",
            category="credit.key_attention",
            authority="ndrc",
            subject_id=WATCHED,
            subject_name="王芳草",
        ),
        row(
            external_id="old-1",
            category="court.judgment_defaulter_conduct",
            decided_on="2022-01-01",
            subject_id=EXPIRED,
            subject_name="王芳旧",
        ),
        row(external_id="rev-1", subject_id=REVOKED, subject_name="王芳撤"),
        row(external_id="xss-1", subject_id=HOSTILE, subject_name="<script>alert(1)</script>王芳"),
    ]


def _serve(db: Database, catalogue: Catalogue, rate_limit: int = 1000) -> Iterator[Portal]:
    ids = _file(db, catalogue, _rows())
    now = dt.datetime.now(dt.UTC)
    with db.engine.begin() as conn:
        revoke(conn, ids[4], "filed in error", "test", now)
        tokens = {
            "checkpoint": create_key(conn, "checkpoint", catalogue, now, actions=["transport.air"])[1],
            "subject": create_key(conn, "subject", catalogue, now, subject=LISTED)[1],
            "watched": create_key(conn, "subject", catalogue, now, subject=WATCHED)[1],
            "rep": create_key(conn, "subject", catalogue, now, subject=REP)[1],
            "auditor": create_key(conn, "auditor", catalogue, now)[1],
            "unknown": create_key(conn, "subject", catalogue, now, subject=person_id(99))[1],
        }
    settings = Settings(database_url=str(db.engine.url), public_rate_limit=rate_limit)
    with TestClient(create_app(db, catalogue, settings), raise_server_exceptions=True) as client:
        yield Portal(client, db, tokens)


@pytest.fixture
def portal(db: Database, catalogue: Catalogue) -> Iterator[Portal]:
    yield from _serve(db, catalogue)


def _text(html: str) -> str:
    """The visible text of a page, whitespace collapsed (enough to assert on words)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# -- home, static files, headers


def test_home_links_every_page_and_has_live_search(portal: Portal) -> None:
    resp = portal.client.get("/")
    assert resp.status_code == 200
    html = resp.text
    for href in ("/portal/search", "/portal/check", "/portal/me", "/portal/catalogue", "/docs"):
        assert f'href="{href}"' in html
    assert 'hx-get="/portal/search"' in html and 'aria-live="polite"' in html
    assert '<script src="/static/htmx.min.js"' in html and "公示信息查询" in html
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert resp.headers["x-frame-options"] == "DENY"


def test_vendored_htmx_keeps_its_licence(portal: Portal) -> None:
    js = portal.client.get("/static/htmx.min.js")
    assert js.status_code == 200 and js.text.startswith("/*! htmx 2.0.11")
    assert "Zero-Clause BSD" in js.text[:300]
    assert "Zero-Clause BSD" in portal.client.get("/static/htmx.LICENSE.txt").text
    assert portal.client.get("/static/portal.css").status_code == 200


def test_api_docs_load_only_from_this_server(portal: Portal) -> None:
    # Defect pinned: /docs loaded Swagger UI from a CDN and was blank offline; /redoc likewise.
    html = portal.client.get("/docs").text
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sorted(refs) == [
        "/static/swagger-ui-bundle.js",
        "/static/swagger-ui-favicon-32x32.png",
        "/static/swagger-ui.css",
    ]
    assert "http://" not in html and "https://" not in html and "'/openapi.json'" in html
    for ref in refs:
        assert portal.client.get(ref).status_code == 200
    bundle = portal.client.get("/static/swagger-ui-bundle.js")
    assert "javascript" in bundle.headers["content-type"] and "SwaggerUIBundle" in bundle.text
    assert "Apache License" in portal.client.get("/static/swagger-ui.LICENSE.txt").text
    assert portal.client.get("/redoc").status_code == 404
    assert portal.client.get("/openapi.json").json()["info"]["title"] == "socialcredit"


@pytest.mark.parametrize("path", ["/", "/portal/search", "/portal/check", "/portal/me"])
def test_every_field_has_a_label(portal: Portal, path: str) -> None:
    html = portal.client.get(path).text
    ids = re.findall(r"<input id=\"([^\"]+)\"", html)
    assert ids
    for field in ids:
        assert f'<label for="{field}">' in html, field


# -- public search


def test_search_shows_only_public_records_in_force_with_masked_ids(portal: Portal) -> None:
    resp = portal.client.get("/portal/search", params={"q": "王芳"})
    assert resp.status_code == 200
    html = resp.text
    assert mask(LISTED) in html and LISTED not in html
    assert "北京王芳科技有限公司" in html and ORG in html  # an organisation's code is public (art. 6)
    assert "李强" in html and REP not in html
    for hidden in ("王芳草", "王芳旧", "王芳撤", WATCHED, EXPIRED, REVOKED):
        assert hidden not in html
    assert "(2024)京0105民初100号" in html and "人民法院" in html


def test_search_escapes_names(portal: Portal) -> None:
    html = portal.client.get("/portal/search", params={"q": "王芳"}).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;王芳" in html
    assert mask(HOSTILE) in html


def test_search_by_full_identifier_shows_only_the_masked_one(portal: Portal) -> None:
    html = portal.client.get("/portal/search", params={"q": LISTED}, headers={"HX-Request": "true"}).text
    assert mask(LISTED) in html and "王芳" in html
    assert LISTED not in html  # the fragment does not even echo the query
    assert "北京王芳科技有限公司" not in html


def test_htmx_request_gets_a_fragment_and_a_browser_a_page(portal: Portal) -> None:
    fragment = portal.client.get("/portal/search", params={"q": "王芳"}, headers={"HX-Request": "true"})
    page = portal.client.get("/portal/search", params={"q": "王芳"})
    assert "<html" not in fragment.text and mask(LISTED) in fragment.text
    assert "<html" in page.text and mask(LISTED) in page.text and 'value="王芳"' in page.text
    assert fragment.headers["vary"] == "HX-Request, Cookie"  # the lang cookie chooses the language (0620)


def test_short_query_is_not_searched_or_audited(portal: Portal) -> None:
    before = portal.counts()
    resp = portal.client.get("/portal/search", params={"q": " 王 "}, headers={"HX-Request": "true"})
    assert resp.status_code == 200 and "at least 2 characters" in resp.text
    assert mask(LISTED) not in resp.text
    assert portal.counts() == before
    portal.client.get("/portal/search", params={"q": "王芳"})
    assert portal.counts()["audit_log"] == before["audit_log"] + 1  # a real search is audited by the API


@pytest.mark.parametrize("page", ["0", "abc", str(MAX_PAGES + 1), "-1"])
def test_bad_page_is_refused_naming_the_field(portal: Portal, page: str) -> None:
    before = portal.counts()
    resp = portal.client.get("/portal/search", params={"q": "王芳", "page": page})
    assert resp.status_code == 422
    assert "page:" in _text(resp.text) and f"1 to {MAX_PAGES}" in resp.text
    assert portal.counts() == before


def test_overlong_query_is_refused(portal: Portal) -> None:
    resp = portal.client.get("/portal/search", params={"q": "王" * 101})
    assert resp.status_code == 422 and "q: at most 100 characters" in resp.text


def test_search_pages_by_twenty_and_stops(db: Database, catalogue: Catalogue) -> None:
    _file(
        db,
        catalogue,
        [
            row(external_id=f"p-{n}", subject_id=person_id(100 + 2 * n), subject_name=f"张伟{n:02d}")
            for n in range(25)
        ],
    )
    for portal in _serve(db, catalogue):
        first = portal.client.get("/portal/search", params={"q": "张伟"}).text
        assert first.count('class="hit"') == 20
        assert "page=2" in first and "下一页" in first
        second = portal.client.get("/portal/search", params={"q": "张伟", "page": "2"}).text
        assert second.count('class="hit"') == 5 and "上一页" in second and "page=3" not in second
        assert 'start="21"' in second


def test_public_rate_limit_applies_per_person(db: Database, catalogue: Catalogue) -> None:
    for portal in _serve(db, catalogue, rate_limit=2):
        for _ in range(2):
            assert portal.client.get("/portal/search", params={"q": "王芳"}).status_code == 200
        resp = portal.client.get("/portal/search", params={"q": "王芳"})
        assert resp.status_code == 429 and "public requests a minute" in resp.text


# -- checkpoint


def _check(portal: Portal, **fields: str) -> Any:
    form = {
        "token": portal.tokens["checkpoint"],
        "purpose": "boarding check CA1234",
        "subject": LISTED,
        "action": "transport.air.ticket",
    }
    form.update(fields)
    return portal.client.post("/portal/check", data={k: v for k, v in form.items() if v is not None})


def test_check_shows_decision_and_reasons_without_the_file(portal: Portal) -> None:
    before = portal.counts()
    resp = _check(portal)
    assert resp.status_code == 200
    text = _text(resp.text)
    assert "不予办理" in text and "Denied" in text
    assert "关于对失信被执行人实施联合惩戒的合作备忘录" in text and "发改财金〔2016〕141号" in text
    assert "法释〔2015〕17号" in text  # the legal basis of the measure
    assert "(2024)京0105民初100号" not in text  # the checkpoint view carries no decision number
    assert portal.tokens["checkpoint"] not in resp.text
    assert resp.headers["cache-control"] == "no-store"
    after = portal.counts()
    assert after["audit_log"] == before["audit_log"] + 1
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }


def test_check_allowed_for_an_unlisted_subject(portal: Portal) -> None:
    resp = _check(portal, subject=person_id(99), purpose="登机核查 CA1234")
    assert resp.status_code == 200 and "准予办理" in resp.text and "Allowed" in resp.text


def test_check_as_htmx_returns_only_the_decision(portal: Portal) -> None:
    form = {
        "token": portal.tokens["checkpoint"],
        "purpose": "boarding check",
        "subject": LISTED,
        "action": "transport.air.ticket",
    }
    resp = portal.client.post("/portal/check", data=form, headers={"HX-Request": "true"})
    assert resp.status_code == 200 and "<html" not in resp.text and "不予办理" in resp.text


@pytest.mark.parametrize(
    ("fields", "status", "needle"),
    [
        ({"token": ""}, 422, "required: token"),
        ({"purpose": "", "action": ""}, 422, "required: purpose, action"),
        ({"token": "sc_0123456789abcdef_nope"}, 401, "Error"),
        ({"subject": "110105198001010110"}, 422, "subject"),
        ({"action": "transport.rail.g_train.ticket"}, 403, "outside this key&#39;s scope"),
        ({"action": "no.such.action"}, 422, "unknown action"),
        ({"at": "yesterday"}, 422, "at: not an ISO 8601 date"),
    ],
)
def test_check_bad_input_is_explained_and_changes_nothing(
    portal: Portal, fields: dict[str, str], status: int, needle: str
) -> None:
    before = portal.counts()
    resp = _check(portal, **fields)
    assert resp.status_code == status, resp.text
    assert 'role="alert"' in resp.text and needle in resp.text
    assert portal.tokens["checkpoint"] not in resp.text
    after = portal.counts()
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }


def test_tokens_never_reach_the_log(portal: Portal, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _check(portal)
    _check(portal, token="sc_0123456789abcdef_wrongsecret")
    portal.client.post("/portal/me", data={"token": portal.tokens["subject"]})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (portal.tokens["checkpoint"], portal.tokens["subject"], "wrongsecret"):
        assert secret not in logged


def test_check_form_never_takes_the_token_from_the_url(portal: Portal) -> None:
    token = portal.tokens["checkpoint"]
    resp = portal.client.get("/portal/check", params={"token": token})
    assert resp.status_code == 200 and token not in resp.text
    assert 'method="post"' in resp.text and 'type="password"' in resp.text


def test_forms_refuse_other_encodings_and_oversized_bodies(portal: Portal) -> None:
    before = portal.counts()
    resp = portal.client.post("/portal/check", json={"token": portal.tokens["checkpoint"]})
    assert resp.status_code == 415 and "application/x-www-form-urlencoded" in resp.text
    resp = portal.client.post("/portal/me", data={"token": "x" * 9000})
    assert resp.status_code == 413 and "larger than 8192 bytes" in resp.text
    assert portal.counts() == before


# -- subject


def test_subject_sees_own_file_with_deadlines_and_rights(portal: Portal) -> None:
    resp = portal.client.post("/portal/me", data={"token": portal.tokens["subject"]})
    assert resp.status_code == 200
    text = _text(resp.text)
    assert LISTED in text and "王芳" in text  # the subject's own full identifier
    assert "生效中" in text and "(2024)京0105民初100号" in text
    assert "Objection" in text and "within 15 days" in text and "上一级人民法院" in text
    assert "Credit repair" in text and "Get legal counsel" in text and "获得法律帮助" in text
    assert portal.tokens["subject"] not in resp.text
    assert resp.headers["cache-control"] == "no-store"


def test_subject_sees_records_the_public_does_not(portal: Portal) -> None:
    resp = portal.client.post("/portal/me", data={"token": portal.tokens["watched"]})
    assert resp.status_code == 200
    text = _text(resp.text)
    assert "王芳草" in text and "重点关注名单" in text
    public = portal.client.get("/portal/search", params={"q": "王芳草"}).text
    assert "没有找到" in public and mask(WATCHED) not in public


def test_legal_representative_sees_the_organisation_record(portal: Portal) -> None:
    text = _text(portal.client.post("/portal/me", data={"token": portal.tokens["rep"]}).text)
    assert "李强" in text and REP in text
    assert "北京王芳科技有限公司" in text and ORG in text and "you are its legal representative" in text


def test_subject_the_registry_never_heard_of_sees_an_empty_file(portal: Portal) -> None:
    resp = portal.client.post("/portal/me", data={"token": portal.tokens["unknown"]})
    assert resp.status_code == 200 and "There is no record about you" in resp.text
    assert person_id(99) in resp.text and 'role="alert"' not in resp.text


@pytest.mark.parametrize(
    ("token_name", "status", "needle"),
    [
        ("", 422, "token: required"),
        ("bogus", 401, "the key was not accepted"),
        ("checkpoint", 403, "checkpoint keys cannot"),
        ("auditor", 403, "auditor keys cannot"),
    ],
)
def test_me_refuses_other_keys(portal: Portal, token_name: str, status: int, needle: str) -> None:
    token = portal.tokens.get(token_name, "sc_0123456789abcdef_bogus" if token_name else "")
    before = portal.counts()
    resp = portal.client.post("/portal/me", data={"token": token})
    assert resp.status_code == status and needle in resp.text
    assert LISTED not in resp.text and "(2024)京0105民初100号" not in resp.text
    if token:
        assert token not in resp.text
    assert portal.counts() == before


# -- catalogue


def test_catalogue_lists_memoranda_measures_departments_and_bases(
    portal: Portal, catalogue: Catalogue
) -> None:
    resp = portal.client.get("/portal/catalogue")
    assert resp.status_code == 200
    html = resp.text
    for memo in catalogue.memoranda.values():
        assert f'id="m-{memo.code}"' in html
        for measure in memo.measures:
            assert measure.legal_basis.replace("'", "&#39;").replace('"', "&#34;") in html
            dept = catalogue.authorities.get(measure.department)
            assert (dept.name if dept else measure.department) in html
    for code in catalogue.categories:
        assert f"<code>{code}</code>" in html
    # A measure on a grade (decision 1003) says so, and names its model and grades.
    assert "Applied on a grade, not triggered by a record" in html and "<code>samr_risk</code>: C, D" in html


def test_unverified_catalogue_facts_are_shown_as_such(portal: Portal) -> None:
    # Defect pinned: the dates of 3062号, 1962号 and 1798号 and the number of 1467号 are unverified in the
    # catalogue, yet the portal and /v1/catalogue showed them as certain.
    memoranda = portal.client.get("/v1/catalogue").json()["memoranda"]
    assert {k: v["unverified"] for k, v in memoranda.items() if v["unverified"]} == {
        "ndrc_2014_3062": ["date"],
        "ndrc_2016_1962": ["date"],
        "ndrc_2017_1798": ["date"],
        "samr_2022_6": ["date"],
        "ndrc_2016_1467": ["document_no"],
        "ndrc_2018_384": ["document_no"],
        "ndrc_2018_385": ["document_no"],
    }
    text = _text(portal.client.get("/portal/catalogue").text)
    assert "2014-12-01 ( 日期待核实 date unverified )" in text
    assert "发改财金〔2016〕1467号 ( 文号待核实 number unverified )" in text
    assert "2016-01-20 ( 日期待核实" not in text and "发改财金〔2016〕141号 ( 文号待核实" not in text
