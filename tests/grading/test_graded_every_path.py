"""A check of a graded action gets one answer whichever route asks (decision 1003, "Every path"): the single
check, the batch (checkpoint and registrar views, graded and ungraded actions mixed), the CLI ``check``, and the
engine's ``check``, ``check_many`` (screening's path) and ``evaluate``. On main the batch, the CLI and the
engine answered ``inspection.random`` from records only, so every comparison below failed for classes A, C, D."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from factories import org_id, person_id
from socialcredit.catalogue import Catalogue, default_dir, load_catalogue
from socialcredit.cli import app
from socialcredit.engine import Checker, evaluate
from socialcredit.grading import grade
from socialcredit.store import Database
from socialcredit.store.tables import audit_log
from test_api_helpers import Api, serve
from test_engine_support import file_decisions

A, B, C, D = org_id(182), org_id(183), org_id(184), org_id(181)
PERSON, UNKNOWN = person_id(181), org_id(189)
SUBJECTS = (A, B, C, D, PERSON, UNKNOWN)
GRADED, UNGRADED = "inspection.random", "transport.air.ticket"
AT = "2026-12-01"
AT_DT = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
runner = CliRunner()


def _filed(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    file_decisions(
        db.engine,
        catalogue,
        now,
        [
            ("court", "court.judgment_defaulter", "c-1", D, "2026-11-01"),
            ("sta", "tax.major_violation", "t-1", D, "2026-11-01"),
            ("sta", "tax.major_violation", "t-2", A, "2016-01-01"),  # ended long ago: class A
            ("samr", "credit.key_attention", "s-1", B, "2026-11-01"),  # a watch record: class B
            ("sta", "tax.major_violation", "t-3", C, "2026-11-01"),  # one serious record: class C
            ("court", "court.judgment_defaulter", "c-2", PERSON, "2026-11-01"),
        ],
        {PERSON: "王芳"},
    )


def _serve(db: Database, catalogue: Catalogue, now: dt.datetime) -> Iterator[Api]:
    _filed(db, catalogue, now)
    yield from serve(db, catalogue, inspector=[GRADED, UNGRADED])


@pytest.fixture
def api(db: Database, catalogue: Catalogue, now: dt.datetime) -> Iterator[Api]:
    yield from _serve(db, catalogue, now)


@pytest.fixture
def denying(db: Database, now: dt.datetime, tmp_path: Path) -> Iterator[Api]:
    """The default catalogue with SAMR's class C/D measure made a ``deny``."""
    root = tmp_path / "catalogue"
    shutil.copytree(default_dir(), root)
    path = root / "memoranda" / "samr_2022_6.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["measures"][1]["effect"] = "deny"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    yield from _serve(db, load_catalogue(root), now)


def _answer(view: dict[str, Any]) -> tuple[bool, list[str], list[dict[str, Any]]]:
    return view["allowed"], list(view["effects"]), view["reasons"]


def _single(api: Api, role: str, subject: str, action: str) -> dict[str, Any]:
    resp = api.client.post(
        "/v1/checks", json={"subject": subject, "action": action, "at": AT}, headers=api.headers(role)
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _batch(api: Api, role: str, queries: list[tuple[str, str]]) -> list[dict[str, Any]]:
    resp = api.client.post(
        "/v1/checks/batch",
        json={"queries": [{"subject": s, "action": a} for s, a in queries], "at": AT},
        headers=api.headers(role),
    )
    assert resp.status_code == 200, resp.text
    views: list[dict[str, Any]] = resp.json()["decisions"]
    return views


def _graded(reasons: list[dict[str, Any]]) -> dict[str, str]:
    return {r["measure"]: r["grade"]["grade"] for r in reasons if r.get("grade")}


# Mixed in one batch, each subject twice (graded once per subject, answered per query).
QUERIES = [(s, a) for a in (GRADED, UNGRADED, GRADED) for s in SUBJECTS]


def test_the_fixture_grades_are_a_b_c_d(api: Api, catalogue: Catalogue) -> None:
    with api.db.engine.connect() as conn:
        letters = [grade(conn, catalogue, s, "samr_risk", as_of=AT_DT).grade for s in (A, B, C, D)]
    assert letters == ["A", "B", "C", "D"]


@pytest.mark.parametrize("role", ["inspector", "registrar"])
def test_single_and_batch_give_the_same_answer(api: Api, role: str) -> None:
    batch = _batch(api, role, QUERIES)
    for (subject, action), view in zip(QUERIES, batch, strict=True):
        assert _answer(view) == _answer(_single(api, role, subject, action)), (subject, action)
    by_query = {q: _graded(v["reasons"]) for q, v in zip(QUERIES, batch, strict=True)}
    assert by_query[(A, GRADED)] == {"class_a_fewer_random_checks": "A"}
    assert by_query[(C, GRADED)] == {"class_cd_more_random_checks": "C"}
    assert by_query[(D, GRADED)] == {"class_cd_more_random_checks": "D"}
    assert all(by_query[(s, GRADED)] == {} for s in (B, PERSON, UNKNOWN))
    assert all(by_query[(s, UNGRADED)] == {} for s in SUBJECTS)
    assert "expedite" in batch[0]["effects"] and "review" in batch[3]["effects"]


def test_the_cli_gives_the_same_answer(api: Api) -> None:
    for subject in SUBJECTS:
        for action in (GRADED, UNGRADED):
            out = runner.invoke(app, ["check", subject, action, "--at", AT, "--json"])
            assert out.exit_code in (0, 1), out.output
            body = json.loads(out.stdout)
            allowed, effects, reasons = _answer(_single(api, "registrar", subject, action))
            assert (body["allowed"], body["effects"]) == (allowed, effects), (subject, action)
            assert _graded(body["reasons"]) == _graded(reasons)
            assert [r["measure"] for r in body["reasons"]] == [r["measure"] for r in reasons]
    shown = runner.invoke(app, ["check", D, GRADED, "--at", AT])
    assert "samr_risk D" in shown.output and "class_cd_more_random_checks" in shown.output


def test_the_engine_answers_alike_on_every_path(api: Api, catalogue: Catalogue) -> None:
    checker = Checker(api.db.engine, catalogue)
    many = checker.check_many(QUERIES, AT_DT).to_list()
    single = [checker.check(s, a, AT_DT) for s, a in QUERIES]
    stored = evaluate(api.db.engine, catalogue, QUERIES, as_of=AT_DT)
    known = checker.check_many(QUERIES, AT_DT, known_at=dt.datetime.now(dt.UTC)).to_list()
    assert many == single == stored == known
    assert [r.grade for r in many[3].reasons if r.grade] == [("samr_risk", "D")]


def _outcomes(api: Api, action: str) -> list[str]:
    with api.db.engine.connect() as conn:
        q = select(audit_log.c.outcome).where(audit_log.c.action == action).order_by(audit_log.c.seq)
        return [o for (o,) in conn.execute(q)]


def test_a_denying_grade_measure_denies_in_the_batch_and_the_audit_agrees(denying: Api) -> None:
    queries = [(s, GRADED) for s in SUBJECTS] + [(s, UNGRADED) for s in SUBJECTS]
    batch = _batch(denying, "inspector", queries)
    assert [v["allowed"] for v in batch[: len(SUBJECTS)]] == [True, True, False, False, True, True]
    singles = [_single(denying, "inspector", s, a) for s, a in queries]
    assert [_answer(v) for v in batch] == [_answer(v) for v in singles]
    denied = sum(not v["allowed"] for v in singles)
    assert _outcomes(denying, "checks.batch") == [f"{len(queries)} checks, {denied} denied"]
    assert _outcomes(denying, "checks.single") == ["allowed" if v["allowed"] else "denied" for v in singles]
