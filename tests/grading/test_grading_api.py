"""GET /v1/subjects/{id}/grade: the explained grade for a registrar (with a purpose) and for the subject itself;
every other role refused; the grade counts every record whoever asks, while the explanation names only the
records the key may see (docs/decisions/1002). Each test fails on main (no such route)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from factories import org_id, person_id
from socialcredit.catalogue import Catalogue
from socialcredit.keys import create_key
from socialcredit.store import Database
from socialcredit.store.tables import audit_log
from test_api_helpers import Api, problem, serve
from test_engine_support import file

ORG = org_id(41)
AT = "2026-12-01"  # after both records' notice periods (fixture ``now`` is 2026-11-20)


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
            subject_name="公司41",
            external_id=ext,
            decided_on="2026-11-01",
        )
    for served in serve(db, catalogue):
        with db.engine.begin() as conn:
            served.tokens["org"] = create_key(conn, "subject", catalogue, now, subject=ORG)[1]
        yield served


def url(subject: str = ORG, **query: str) -> str:
    return f"/v1/subjects/{subject}/grade?" + "&".join(f"{k}={v}" for k, v in {"at": AT, **query}.items())


def test_registrar_gets_the_grade_from_every_record_but_names_only_its_own(api: Api) -> None:
    # Defect pinned: a grade that changes with who asks, or a registrar told which record of another authority
    # (here the tax bureau's) scored, beyond what a checkpoint would see (decision 0310).
    own = api.client.get(url(model="public_credit"), headers=api.headers("org", None))
    court = api.client.get(url(model="public_credit"), headers=api.headers("registrar"))
    assert own.status_code == court.status_code == 200, (own.text, court.text)
    mine, theirs = own.json(), court.json()
    assert mine["subject"] == ORG and mine["model"] == "public_credit"
    assert mine["score"] == theirs["score"] < mine["start"] and mine["grade"] == theirs["grade"]
    assert len(mine["points"]) == len(theirs["points"]) == 2
    assert all(isinstance(p["record_id"], int) for p in mine["points"])
    named = {p["category"]: p["record_id"] for p in theirs["points"]}
    assert isinstance(named["court.judgment_defaulter"], int) and named["tax.major_violation"] is None
    assert [p["points"] for p in mine["points"]] == [p["points"] for p in theirs["points"]]
    tax_id = next(p["record_id"] for p in mine["points"] if p["category"] == "tax.major_violation")
    assert str(tax_id) not in {str(r["record_id"]) for r in theirs["to_raise"]}
    assert {"thresholds", "to_raise", "catalogue_version", "known_at", "as_of"} <= set(theirs)


def test_the_grade_read_is_audited_with_its_purpose(api: Api) -> None:
    resp = api.client.get(url(), headers=api.headers("registrar", "supervision plan 2027"))
    assert resp.status_code == 200, resp.text
    with api.db.engine.connect() as conn:
        row = conn.execute(select(audit_log).where(audit_log.c.action == "grades.single")).mappings().one()
    assert row["target"] == f"subject:{ORG}" and row["purpose"] == "supervision plan 2027"
    assert row["outcome"] == f"graded {resp.json()['model']}: {resp.json()['grade']}"


@pytest.mark.parametrize("role", ["checkpoint", "auditor", "admin", "subject_other"])
def test_other_roles_and_other_subjects_are_refused(api: Api, role: str) -> None:
    # This checkpoint (transport.air) reaches no grade-conditioned measure (tests/grading/test_grading_checkpoint.py).
    problem(api.client.get(url(), headers=api.headers(role)), 403)


def test_no_key_is_401(api: Api) -> None:
    problem(api.client.get(url()), 401)


def test_a_registrar_must_state_a_purpose(api: Api) -> None:
    body = problem(api.client.get(url(), headers=api.headers("registrar", None)), 422)
    assert "X-Purpose" in body["detail"]


def test_unknown_subject_is_404_and_audited(api: Api) -> None:
    problem(api.client.get(url(org_id(42)), headers=api.headers("registrar")), 404)
    with api.db.engine.connect() as conn:
        outcomes = conn.execute(select(audit_log.c.outcome).where(audit_log.c.action == "grades.single"))
        assert [o for (o,) in outcomes] == ["refused: 404"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"model": "no_such_model"}, "model"),
        ({"at": "yesterday"}, "at"),
        ({"at": "0001-01-01"}, "at"),
        ({"known_at": "2026-13-01"}, "known_at"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(api: Api, query: dict[str, str], field: str) -> None:
    body = problem(api.client.get(url(**query), headers=api.headers("registrar")), 422)
    assert any(e["loc"] == ["query", field] for e in body["errors"]), body


def test_a_person_is_refused_under_a_punitive_model(api: Api) -> None:
    # Defect pinned: a punitive score of an individual (national policy: rewards only, docs/grading.md).
    body = problem(
        api.client.get(url(person_id(11), model="public_credit"), headers=api.headers("subject")), 422
    )
    assert "reward-only" in body["detail"] and body["errors"][0]["loc"] == ["query", "model"]


def test_known_at_before_the_records_grades_without_them(api: Api, now: dt.datetime) -> None:
    before = (now - dt.timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    resp = api.client.get(url(known_at=before), headers=api.headers("registrar"))
    problem(resp, 404)  # the subject was not yet in the registry then
