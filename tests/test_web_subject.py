"""A listed subject's public page by its keyed reference (issue 18 point 1, decision 0612), on both databases."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest

from factories import person_id, row
from socialcredit.api.public_lists import subject_ref
from socialcredit.catalogue import Catalogue
from socialcredit.identifiers import mask
from socialcredit.registry import check_row, file_batch, revoke
from socialcredit.store import Database
from test_api_helpers import Api, serve

LISTED = person_id(51)


@pytest.fixture
def api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    now = dt.datetime.now(dt.UTC)
    rows = [
        row(external_id="s-1", subject_id=LISTED, subject_name="王五", decision_no="(2025)京执51号"),
        row(external_id="s-2", subject_id=LISTED, subject_name="王五", decision_no="(2025)京执52号"),
    ]
    with db.engine.begin() as conn:
        outcomes = file_batch(conn, [check_row(r, catalogue, now) for r in rows], catalogue, "test", now)
        revoke(conn, outcomes[1].record_id, "filed in error", "test", now)
    yield from serve(db, catalogue)


def _ref(api: Api) -> str:
    page = api.client.get("/portal/lists/court.judgment_defaulter").text
    refs = re.findall(r"/portal/subjects/([0-9a-f]{32})", page)
    assert len(refs) == 1
    return refs[0]


def test_subject_page_shows_public_records_and_history(api: Api) -> None:
    resp = api.client.get(f"/portal/subjects/{_ref(api)}")
    assert resp.status_code == 200
    text = resp.text
    assert "王五" in text and mask(LISTED) in text and LISTED not in text
    assert "(2025)京执51号" in text and "(2025)京执52号" not in text  # the revoked record is not published
    assert "Revoked" in text  # ... but that it was revoked is public history
    assert "How to object" in text


def test_ref_is_keyed(api: Api) -> None:
    ref = _ref(api)
    state = api.client.app.state.sc  # type: ignore[attr-defined]
    assert ref == subject_ref(state.lookups, LISTED)
    assert ref not in state.lookups.tag(LISTED)  # not the audit log's tag


def test_unknown_ref_is_404(api: Api) -> None:
    for ref in ("0" * 32, "xyz", LISTED, mask(LISTED)):
        resp = api.client.get(f"/portal/subjects/{ref}")
        assert resp.status_code == 404 and "Page not found" in resp.text


def test_search_results_link_to_the_subject_page(api: Api) -> None:
    resp = api.client.get("/portal/search", params={"q": "王五"})
    assert f"/portal/subjects/{_ref(api)}" in resp.text
