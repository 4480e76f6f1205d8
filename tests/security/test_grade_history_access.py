"""Attacks on GET /v1/subjects/{id}/grades (decision 1010): roles, another subject, persons under a punitive
model, extreme instants (never a 5xx)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from factories import org_id, person_id
from socialcredit.catalogue import Catalogue
from socialcredit.store import Database
from test_api_helpers import Api, problem, serve
from test_engine_support import file

ORG = org_id(61)


@pytest.fixture
def api(db: Database, catalogue: Catalogue, now: dt.datetime) -> Iterator[Api]:
    file(
        db.engine,
        catalogue,
        now,
        authority="sta",
        category="tax.major_violation",
        subject_id=ORG,
        subject_name="公司61",
        external_id="t-1",
        decided_on="2026-11-01",
    )
    yield from serve(db, catalogue)


@pytest.mark.parametrize("role", ["checkpoint", "screener", "auditor", "admin", "subject_other"])
def test_other_roles_are_refused(api: Api, role: str) -> None:
    problem(api.client.get(f"/v1/subjects/{ORG}/grades", headers=api.headers(role)), 403)


def test_the_public_without_a_key_is_401(api: Api) -> None:
    problem(api.client.get(f"/v1/subjects/{ORG}/grades"), 401)


def test_a_court_registrar_never_sees_the_tax_record_id(api: Api) -> None:
    resp = api.client.get(f"/v1/subjects/{ORG}/grades?to=2027-01-01", headers=api.headers("registrar"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["changes"] and all(c["record_id"] is None for c in resp.json()["changes"])


def test_a_person_under_a_punitive_model_is_refused(api: Api) -> None:
    resp = api.client.get(
        f"/v1/subjects/{person_id(3)}/grades?model=public_credit", headers=api.headers("registrar")
    )
    body = problem(resp, 422)
    assert body["errors"][0]["loc"] == ["query", "model"]


@pytest.mark.parametrize(
    "query",
    ["from=0001-01-01", "to=9999-12-31", "from=9999-12-31&to=0001-01-01", "known_at=0001-01-01", "to=x"],
)
def test_extreme_instants_are_never_a_5xx(api: Api, query: str) -> None:
    resp = api.client.get(f"/v1/subjects/{ORG}/grades?{query}", headers=api.headers("registrar"))
    assert resp.status_code < 500, resp.text
