"""GET /v1/subjects/{id}/grades: the grade history, an entry only where the grade changes, each with old and new
grade and score and its cause (decision 1010). Each test fails on main (no such route)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from factories import org_id
from socialcredit.catalogue import Catalogue
from socialcredit.keys import create_key
from socialcredit.store import Database
from socialcredit.store.tables import audit_log
from test_api_helpers import Api, problem, serve
from test_engine_support import file

ORG = org_id(51)


@pytest.fixture
def api(db: Database, catalogue: Catalogue, now: dt.datetime) -> Iterator[Api]:
    for authority, category, ext in (
        ("court", "court.judgment_defaulter", "c-1"),
        ("sta", "tax.major_violation", "t-1"),
    ):
        file(
            db.engine,
            catalogue,
            now,
            authority=authority,
            category=category,
            subject_id=ORG,
            subject_name="公司51",
            external_id=ext,
            decided_on="2026-11-01",
        )
    for served in serve(db, catalogue):
        with db.engine.begin() as conn:
            served.tokens["org"] = create_key(conn, "subject", catalogue, now, subject=ORG)[1]
        yield served


def url(subject: str = ORG, **query: str) -> str:
    return f"/v1/subjects/{subject}/grades?" + "&".join(
        f"{k}={v}" for k, v in {"to": "2027-01-01", **query}.items()
    )


def test_history_has_an_entry_only_where_the_grade_changes(api: Api) -> None:
    resp = api.client.get(url(model="public_credit"), headers=api.headers("org", None))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["subject"] == ORG and body["model"] == "public_credit"
    changes = body["changes"]
    assert changes, body
    assert changes[0]["old_grade"] is None
    for a, b in itertools.pairwise(changes):
        assert b["old_grade"] == a["new_grade"] != b["new_grade"] and a["at"] < b["at"]
    assert changes[-1]["new_score"] < 1000
    assert all(isinstance(c["record_id"], int) and c["cause"] for c in changes[1:])


def test_a_registrar_sees_no_other_authoritys_record_and_the_read_is_audited(api: Api) -> None:
    mine = api.client.get(url(), headers=api.headers("org", None)).json()["changes"]
    resp = api.client.get(url(), headers=api.headers("registrar", "plan 2027"))
    assert resp.status_code == 200, resp.text
    theirs = resp.json()["changes"]
    assert [c["new_grade"] for c in mine] == [c["new_grade"] for c in theirs]
    hidden = {c["record_id"] for c in mine} - {c["record_id"] for c in theirs}
    assert None in {c["record_id"] for c in theirs} or not hidden
    with api.db.engine.connect() as conn:
        row = (
            conn.execute(
                select(audit_log).where(
                    audit_log.c.action == "grades.history", audit_log.c.role == "registrar"
                )
            )
            .mappings()
            .one()
        )
    assert row["target"] == f"subject:{ORG}" and row["purpose"] == "plan 2027"


def test_from_after_every_change_gives_no_entry(api: Api) -> None:
    resp = api.client.get(url(**{"from": "2026-12-31"}), headers=api.headers("org", None))
    assert resp.status_code == 200, resp.text
    assert resp.json()["changes"] == []


def test_unknown_subject_is_404(api: Api) -> None:
    problem(api.client.get(url(org_id(52)), headers=api.headers("registrar")), 404)
