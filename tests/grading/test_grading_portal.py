"""/portal/grade: an organisation's own grade with a waterfall chart, through the API (decision 0600). Fails on
main (no such page)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from factories import org_id
from socialcredit.catalogue import Catalogue
from socialcredit.keys import create_key
from socialcredit.store import Database
from socialcredit.web.grade import waterfall
from test_api_helpers import Api, serve
from test_engine_support import file

ORG = org_id(43)


@pytest.fixture
def api(db: Database, catalogue: Catalogue, now: dt.datetime) -> Iterator[Api]:
    file(
        db.engine,
        catalogue,
        now,
        authority="court",
        category="court.judgment_defaulter",
        subject_id=ORG,
        subject_name="公司43",
        external_id="c-43",
        decided_on="2026-11-01",
    )
    for served in serve(db, catalogue):
        with db.engine.begin() as conn:
            served.tokens["org"] = create_key(conn, "subject", catalogue, now, subject=ORG)[1]
        yield served


def test_the_organisation_sees_its_grade_as_a_waterfall(api: Api) -> None:
    resp = api.client.post("/portal/grade", data={"token": api.tokens["org"], "model": "public_credit"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"  # personal data
    html = resp.text
    assert (
        "<svg" in html
        and 'class="wf-start"' in html
        and 'class="wf-down"' in html
        and 'class="wf-total"' in html
    )
    assert api.tokens["org"] not in html  # the token is never echoed back
    assert "失信被执行人" in html and "public_credit" in html  # the category by its title, the model named


@pytest.mark.parametrize("role", ["registrar", "checkpoint", "subject"])
def test_other_keys_get_no_grade_page(api: Api, role: str) -> None:
    # registrar and checkpoint: not a subject key; "subject" is a person's key (persons: reward-only models).
    resp = api.client.post("/portal/grade", data={"token": api.tokens[role]})
    assert resp.status_code == 403 and "<svg" not in resp.text


def test_waterfall_bars_run_from_start_to_score() -> None:
    g = {
        "start": 1000,
        "score": 700,
        "points": [{"points": -200, "record_id": 17}, {"points": -100, "record_id": None}],
        "thresholds": [{"grade": "A", "min": 900}, {"grade": "B", "min": None}],
    }
    chart = waterfall(g)
    # Under the axis each bar says what it is: the start, the record by its id (a dash where the viewer may not
    # see another authority's record id), the score.
    assert [b["axis"] for b in chart["bars"]] == [
        "起始 start",
        "#17",
        "—",
        "得分 score",
    ]  # no language chosen: both
    assert all(b["axis_y"] > b["y"] + b["height"] for b in chart["bars"])
    kinds = [b["kind"] for b in chart["bars"]]
    assert kinds == ["start", "down", "down", "total"]
    start, first, second, total = chart["bars"]
    assert first["y"] == start["y"] and second["y"] == first["y"] + first["height"]  # each step from the last
    assert abs(total["y"] - (second["y"] + second["height"])) < 0.2 and [
        ln["grade"] for ln in chart["lines"]
    ] == ["A"]
