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
