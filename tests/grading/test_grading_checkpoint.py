"""GET /v1/subjects/{id}/grade for a checkpoint (decision 1003): the letter under a model that a measure of its
scope makes the condition of an action, with those measures as the reason, and nothing of the file; every other
checkpoint refused with why. Each test fails on main (checkpoints got a 403 whatever their scope)."""

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

ORG = org_id(71)  # two serious black-list records: class D under samr_risk
CLEAN = org_id(72)  # no record: class A
AT = "2026-12-01"  # Beijing midnight; after the records' notice periods (fixture ``now`` is 2026-11-20)


@pytest.fixture
def api(db: Database, catalogue: Catalogue, now: dt.datetime) -> Iterator[Api]:
    for authority, category, ext, subject in (
        ("court", "court.judgment_defaulter", "c-1", ORG),
        ("sta", "tax.major_violation", "t-1", ORG),
        ("sta", "tax.major_violation", "t-2", person_id(71)),
    ):
        file(
            db.engine,
            catalogue,
            now,
            authority=authority,
            category=category,
            subject_id=subject,
            subject_name="公司71",
            external_id=ext,
            decided_on="2026-11-01",
        )
    file(
        db.engine,
        catalogue,
        now,
        category="tax.major_violation",
        subject_id=CLEAN,
        external_id="t-3",
        decided_on="2016-01-01",
        authority="sta",
        subject_name="公司72",
    )
    for served in serve(db, catalogue):
        with db.engine.begin() as conn:
            for name, scope in (("inspector", ["inspection.random"]), ("supervision", ["inspection"])):
                served.tokens[name] = create_key(conn, "checkpoint", catalogue, now, actions=scope)[1]
        yield served


def url(subject: str = ORG, **query: str) -> str:
    return f"/v1/subjects/{subject}/grade?" + "&".join(f"{k}={v}" for k, v in {"at": AT, **query}.items())


@pytest.mark.parametrize("key", ["inspector", "supervision"])
def test_a_checkpoint_in_scope_gets_the_letter_with_the_measure_as_reason(api: Api, key: str) -> None:
    # Defect pinned: a checkpoint handed the file (points, record ids, what would raise the grade), or a grade
    # without the measure that makes it the condition of the action it checks.
    resp = api.client.get(url(), headers=api.headers(key, "random inspection plan 2027"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (
        body["model"] == "samr_risk" and body["grade"] == "D" and body["as_of"] == "2026-11-30T16:00:00+00:00"
    )
    assert set(body) == {
        "subject",
        "model",
        "model_title",
        "as_of",
        "known_at",
        "grade",
        "measures",
        "catalogue_version",
    }
    assert "record_id" not in resp.text and "points" not in resp.text and "score" not in resp.text
    by_code = {m["measure"]: m for m in body["measures"]}
    more = by_code["class_cd_more_random_checks"]
    assert more["memorandum"] == "samr_2022_6" and more["document_no"] == "国市监信发〔2022〕6号"
    assert more["department"] == "samr" and "国办发〔2015〕58号" in more["legal_basis"]
    assert more["actions"] == ["inspection.random"] and more["effect"] == "review" and more["applies"] is True
    assert by_code["class_a_fewer_random_checks"]["applies"] is False


def test_a_firm_without_records_is_class_a_and_the_reward_applies(api: Api) -> None:
    body = api.client.get(url(CLEAN), headers=api.headers("inspector")).json()
    applies = {m["measure"]: m["applies"] for m in body["measures"]}
    assert body["grade"] == "A" and applies == {
        "class_a_fewer_random_checks": True,
        "class_cd_more_random_checks": False,
    }


def test_the_checkpoint_read_is_audited_with_its_purpose(api: Api) -> None:
    resp = api.client.get(url(), headers=api.headers("inspector", "random inspection plan 2027"))
    assert resp.status_code == 200, resp.text
    with api.db.engine.connect() as conn:
        row = conn.execute(select(audit_log).where(audit_log.c.action == "grades.single")).mappings().one()
    assert row["role"] == "checkpoint" and row["target"] == f"subject:{ORG}"
    assert row["purpose"] == "random inspection plan 2027" and row["outcome"] == "graded samr_risk: D"


def test_a_checkpoint_must_state_a_purpose(api: Api) -> None:
    body = problem(api.client.get(url(), headers=api.headers("inspector", None)), 422)
    assert "X-Purpose" in body["detail"]


def test_a_checkpoint_out_of_scope_is_403_naming_why(api: Api) -> None:
    body = problem(api.client.get(url(), headers=api.headers("checkpoint")), 403)  # scope: transport.air
    assert "no measure of this key's scope" in body["detail"] and "transport.air" in body["detail"]


def test_a_checkpoint_in_scope_under_another_model_is_403(api: Api) -> None:
    body = problem(api.client.get(url(model="public_credit"), headers=api.headers("inspector")), 403)
    assert "'public_credit'" in body["detail"]


def test_a_checkpoint_gets_no_grade_history(api: Api) -> None:
    problem(api.client.get(f"/v1/subjects/{ORG}/grades", headers=api.headers("inspector")), 403)


def test_unknown_subject_is_404_and_audited(api: Api) -> None:
    problem(api.client.get(url(org_id(79)), headers=api.headers("inspector")), 404)
    with api.db.engine.connect() as conn:
        outcomes = conn.execute(select(audit_log.c.outcome).where(audit_log.c.action == "grades.single"))
        assert [o for (o,) in outcomes] == ["refused: 404"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"model": "no_such_model"}, "model"),
        ({"at": "yesterday"}, "at"),
        ({"known_at": "2026-13-01"}, "known_at"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(api: Api, query: dict[str, str], field: str) -> None:
    body = problem(api.client.get(url(**query), headers=api.headers("inspector")), 422)
    assert any(e["loc"] == ["query", field] for e in body["errors"]), body
