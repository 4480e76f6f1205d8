"""``/portal/stats`` (issue 18 point 1, decision 0613), on both databases: SVG charts with title, desc and
a data table, public categories only, no script."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from factories import person_id, row
from socialcredit.catalogue import Catalogue
from socialcredit.registry import check_row, file_batch
from socialcredit.store import Database
from test_api_helpers import Api, serve


@pytest.fixture
def api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    now = dt.datetime.now(dt.UTC)
    rows = [
        row(external_id="t-1", subject_id=person_id(71), subject_name="甲"),
        row(external_id="t-2", subject_id=person_id(73, region="310101"), subject_name="乙"),
    ]
    with db.engine.begin() as conn:
        file_batch(conn, [check_row(r, catalogue, now) for r in rows], catalogue, "test", now)
    yield from serve(db, catalogue)


def test_stats_draws_four_charts_with_tables(api: Api) -> None:
    resp = api.client.get("/portal/stats")
    assert resp.status_code == 200
    text = resp.text
    assert text.count("<svg") == 4 and text.count("<title id=") == 4 and text.count("<desc") == 4
    assert text.count("<table") == 4
    assert "<script>" not in text.split("</header>")[-1]
    assert "listings" in text and "Published records by region" in text


def test_stats_without_records(db: Database, catalogue: Catalogue) -> None:
    for api in serve(db, catalogue):
        resp = api.client.get("/portal/stats")
        assert resp.status_code == 200 and "No data yet" in resp.text
