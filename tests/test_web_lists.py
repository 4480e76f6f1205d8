"""Public search by the screening matcher's name keys (issue 18 point 1, decision 0610), on both databases:
a pinyin query finds a listed 张伟, an unlisted (revoked) subject stays out, identifiers stay exact."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from factories import person_id, row
from socialcredit.catalogue import Catalogue
from socialcredit.identifiers import mask
from socialcredit.registry import check_row, file_batch, revoke
from socialcredit.store import Database
from test_api_helpers import Api, serve

LISTED = person_id(41)
REVOKED = person_id(43)


@pytest.fixture
def api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    now = dt.datetime.now(dt.UTC)
    rows = [
        row(external_id="z-1", subject_id=LISTED, subject_name="张伟", decision_no="(2025)京执41号"),
        row(external_id="z-2", subject_id=REVOKED, subject_name="张伟", decision_no="(2025)京执43号"),
    ]
    with db.engine.begin() as conn:
        outcomes = file_batch(conn, [check_row(r, catalogue, now) for r in rows], catalogue, "test", now)
        revoke(conn, outcomes[1].record_id, "filed in error", "test", now)
    yield from serve(db, catalogue)


def test_pinyin_query_finds_the_han_name_and_only_the_listed_subject(api: Api) -> None:
    resp = api.client.get("/v1/public/search", params={"q": "Zhang Wei"})
    assert resp.status_code == 200, resp.text
    ids = [h["id"] for h in resp.json()["results"]]
    assert ids == [mask(LISTED)]
    assert LISTED not in resp.text and REVOKED not in resp.text


def test_portal_search_shows_the_pinyin_match_masked(api: Api) -> None:
    resp = api.client.get("/portal/search", params={"q": "zhang wei"})
    assert resp.status_code == 200
    assert "张伟" in resp.text and mask(LISTED) in resp.text and LISTED not in resp.text


def test_identifier_is_still_exact(api: Api) -> None:
    resp = api.client.get("/v1/public/search", params={"q": REVOKED})
    assert resp.status_code == 200 and resp.json()["results"] == []


# -- lists by category, CSV export and the subject page (issue 18 point 1, decisions 0611, 0612) ------------

SHANGHAI = person_id(45, region="310101")


@pytest.fixture
def lists_api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    now = dt.datetime.now(dt.UTC)
    rows = [
        row(external_id="l-1", subject_id=LISTED, subject_name="=HYPERLINK(1)", decision_no="(2025)京执1号",
            decided_on="2025-03-01"),
        row(external_id="l-2", subject_id=SHANGHAI, subject_name="李娜", decision_no="-(2025)沪执2号",
            decided_on="2025-05-01"),
        row(external_id="l-3", subject_id=REVOKED, subject_name="赵六", decision_no="(2025)京执3号"),
    ]  # fmt: skip
    with db.engine.begin() as conn:
        outcomes = file_batch(conn, [check_row(r, catalogue, now) for r in rows], catalogue, "test", now)
        revoke(conn, outcomes[2].record_id, "filed in error", "test", now)
    yield from serve(db, catalogue)


def test_lists_index_counts_only_published_records(lists_api: Api) -> None:
    resp = lists_api.client.get("/portal/lists")
    assert resp.status_code == 200
    assert "/portal/lists/court.judgment_defaulter" in resp.text
    assert "credit.key_attention" not in resp.text  # not a public category
    row_html = resp.text.split('/portal/lists/court.judgment_defaulter"')[1].split("</tr>")[0]
    assert "<td>2</td>" in row_html


def test_list_page_filters_and_masks(lists_api: Api) -> None:
    page = lists_api.client.get("/portal/lists/court.judgment_defaulter")
    assert page.status_code == 200
    assert "李娜" in page.text and mask(SHANGHAI) in page.text and SHANGHAI not in page.text
    assert "赵六" not in page.text  # revoked
    only = lists_api.client.get("/portal/lists/court.judgment_defaulter", params={"region": "31"})
    assert "李娜" in only.text and "HYPERLINK" not in only.text
    dated = lists_api.client.get(
        "/portal/lists/court.judgment_defaulter", params={"from": "2025-04-01", "to": "2025-12-31"}
    )
    assert "李娜" in dated.text and "HYPERLINK" not in dated.text


def test_csv_is_the_page_shown_escaped(lists_api: Api) -> None:
    resp = lists_api.client.get("/portal/lists/court.judgment_defaulter", params={"format": "csv"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    text = resp.text
    assert "'=HYPERLINK(1)" in text and "'-(2025)沪执2号" in text
    assert mask(LISTED) in text and LISTED not in text and "赵六" not in text


@pytest.mark.parametrize(
    ("params", "field"),
    [({"from": "2025-13-01"}, "from"), ({"page": "0"}, "page"), ({"page": "9" * 40}, "page"),
     ({"region": "abc"}, "region"), ({"authority": "nobody"}, "authority"),
     ({"from": "2025-02-01", "to": "2025-01-01"}, "to"),
     ({"format": "xlsx"}, "format")],
)  # fmt: skip
def test_bad_filters_name_the_field(lists_api: Api, params: dict[str, str], field: str) -> None:
    resp = lists_api.client.get("/portal/lists/court.judgment_defaulter", params=params)
    assert resp.status_code == 422 and f"<code>{field}</code>" in resp.text


def test_unknown_or_private_category_is_the_portal_404(lists_api: Api) -> None:
    for path in ("/portal/lists/nope", "/portal/lists/credit.key_attention"):
        resp = lists_api.client.get(path)
        assert resp.status_code == 404 and "Page not found" in resp.text
