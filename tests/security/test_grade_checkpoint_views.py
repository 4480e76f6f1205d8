"""Attacks on a checkpoint's grade (decision 1003): the file never leaks through it, other roles and scopes stay
refused, a person's registration is not revealed, and no input gives a 5xx."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from factories import org_id, person_id
from socialcredit.catalogue import Catalogue
from socialcredit.store import Database
from test_api_helpers import Api, problem, serve
from test_engine_support import file

ORG = org_id(91)
PERSON = person_id(91)  # registered (a record about them); person_id(92) is not


@pytest.fixture
def api(db: Database, catalogue: Catalogue, now: dt.datetime) -> Iterator[Api]:
    for ext, subject in (("t-1", ORG), ("t-2", PERSON)):
        file(
            db.engine,
            catalogue,
            now,
            authority="sta",
            category="tax.major_violation",
            subject_id=subject,
            subject_name="某",
            external_id=ext,
            decided_on="2026-11-01",
        )
    yield from serve(db, catalogue, inspector=["inspection.random"])


def test_nothing_of_the_file_reaches_a_checkpoint(api: Api) -> None:
    # Defect pinned: the checkpoint handed the registrar's explanation (record ids, categories, points).
    resp = api.client.get(f"/v1/subjects/{ORG}/grade?at=2026-12-01", headers=api.headers("inspector"))
    assert resp.status_code == 200, resp.text
    for leak in ("record_id", "points", "score", "to_raise", "thresholds", "tax.major_violation", "category"):
        assert leak not in resp.text, leak


@pytest.mark.parametrize("role", ["checkpoint", "screener", "auditor", "admin", "subject_other"])
def test_other_roles_and_scopes_are_403(api: Api, role: str) -> None:
    problem(api.client.get(f"/v1/subjects/{ORG}/grade", headers=api.headers(role)), 403)


def test_the_public_is_401(api: Api) -> None:
    problem(api.client.get(f"/v1/subjects/{ORG}/grade"), 401)


@pytest.mark.parametrize("model", [None, "samr_risk", "public_credit"])
def test_a_person_is_refused_alike_registered_or_not(api: Api, model: str | None) -> None:
    # Defect pinned: a refusal that differs between a registered and an unknown person is an existence oracle.
    q = "" if model is None else f"?model={model}"
    bodies = []
    for who in (PERSON, person_id(92)):
        resp = api.client.get(f"/v1/subjects/{who}/grade{q}", headers=api.headers("inspector"))
        body = problem(resp, 422)
        assert body["errors"][0]["loc"] == ["query", "model"]
        bodies.append((body["detail"].replace(who, "X"), body["errors"][0]["reason"]))
    assert bodies[0] == bodies[1]


@pytest.mark.parametrize(
    "query",
    [
        "at=0001-01-01",
        "at=9999-12-31T23:59:59-14:00",
        "known_at=1e999",
        "model=%00",
        "model=" + "x" * 65,
        "at=2026-02-30",
    ],
)
def test_extreme_inputs_are_422_never_5xx(api: Api, query: str) -> None:
    resp = api.client.get(f"/v1/subjects/{ORG}/grade?{query}", headers=api.headers("inspector"))
    problem(resp, 422)


def test_a_graded_batch_shows_a_checkpoint_the_measure_and_grade_only(api: Api) -> None:
    # The batch view now carries grade reasons (decision 1003, "Every path"): still no record, score or points,
    # and the registrar-only fields (withheld, record ids) stay out of the checkpoint's answer.
    queries = [{"subject": s, "action": "inspection.random"} for s in (ORG, PERSON, org_id(93))]
    resp = api.client.post(
        "/v1/checks/batch", json={"queries": queries, "at": "2026-12-01"}, headers=api.headers("inspector")
    )
    assert resp.status_code == 200, resp.text
    graded = [r for d in resp.json()["decisions"] for r in d["reasons"] if "grade" in r]
    assert graded and {r["grade"]["model"] for r in graded} == {"samr_risk"}
    for r in graded:
        assert set(r) == {
            "memorandum",
            "measure",
            "department",
            "effect",
            "legal_basis",
            "valid_until",
            "grade",
        }
    for leak in ("record_id", "points", "score", "to_raise", "withheld", "category", "via"):
        assert leak not in resp.text, leak


def test_a_checkpoint_batch_of_a_graded_action_outside_its_scope_is_403(api: Api) -> None:
    queries = [{"subject": ORG, "action": "inspection.random"}]
    problem(
        api.client.post("/v1/checks/batch", json={"queries": queries}, headers=api.headers("checkpoint")), 403
    )
