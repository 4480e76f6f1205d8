"""POST /v1/checks of an action that a grade-conditioned measure covers (decision 1003): the subject's grade
under the measure's model makes the measure a reason, with the grade behind it; other actions are untouched.
Each test fails on main (no measure was conditioned on a grade; a check never read one)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from factories import org_id, person_id
from socialcredit.catalogue import Catalogue, default_dir, load_catalogue
from socialcredit.store import Database
from socialcredit.store.tables import audit_log
from test_api_helpers import Api, serve
from test_engine_support import file_decisions

ORG = org_id(81)  # two serious black-list records: class D under samr_risk
CLEAN = org_id(82)  # only a record that ended years ago: class A
AT = "2026-12-01"


def _filed(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    file_decisions(
        db.engine,
        catalogue,
        now,
        [
            ("court", "court.judgment_defaulter", "c-1", ORG, "2026-11-01"),
            ("sta", "tax.major_violation", "t-1", ORG, "2026-11-01"),
            ("sta", "tax.major_violation", "t-2", CLEAN, "2016-01-01"),
        ],
    )


def _serve(db: Database, catalogue: Catalogue, now: dt.datetime) -> Iterator[Api]:
    _filed(db, catalogue, now)
    yield from serve(db, catalogue, inspector=["inspection.random"])


@pytest.fixture
def api(db: Database, catalogue: Catalogue, now: dt.datetime) -> Iterator[Api]:
    yield from _serve(db, catalogue, now)


def check(api: Api, subject: str, role: str = "inspector", action: str = "inspection.random") -> Any:
    resp = api.client.post(
        "/v1/checks", json={"subject": subject, "action": action, "at": AT}, headers=api.headers(role)
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def graded(body: dict[str, Any]) -> dict[str, Any]:
    return {r["measure"]: r for r in body["reasons"] if r.get("grade")}


def test_a_class_d_firm_is_drawn_more_often_with_the_measure_and_grade_as_reason(api: Api) -> None:
    body = check(api, ORG)
    reason = graded(body)["class_cd_more_random_checks"]
    assert reason["grade"] == {"model": "samr_risk", "grade": "D"} and reason["memorandum"] == "samr_2022_6"
    assert reason["department"] == "samr" and "国市监信发〔2022〕6号" in reason["legal_basis"]
    assert "review" in body["effects"] and set(graded(body)) == {"class_cd_more_random_checks"}
    assert "record_id" not in str(graded(body))


def test_a_class_a_firm_gets_the_reward(api: Api) -> None:
    body = check(api, CLEAN)
    assert set(graded(body)) == {"class_a_fewer_random_checks"} and body["effects"] == ["expedite"]
    assert body["allowed"] is True


def test_the_registrar_sees_the_grade_reason_too(api: Api) -> None:
    reason = graded(check(api, ORG, role="registrar"))["class_cd_more_random_checks"]
    assert reason["grade"]["grade"] == "D" and reason["withheld"] is False


@pytest.mark.parametrize("subject", [org_id(89), person_id(81)])
def test_no_grade_for_an_unknown_subject_or_a_person(api: Api, subject: str) -> None:
    assert graded(check(api, subject)) == {}


def test_other_actions_are_not_graded(api: Api) -> None:
    assert graded(check(api, ORG, role="registrar", action="transport.air.ticket")) == {}


def _edited(db: Database, now: dt.datetime, tmp_path: Path, **changes: Any) -> Iterator[Api]:
    """The API over a copy of the default catalogue whose SAMR measures are changed (by index)."""
    root = tmp_path / "catalogue"
    shutil.copytree(default_dir(), root)
    path = root / "memoranda" / "samr_2022_6.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key, (i, value) in changes.items():
        data["measures"][i][key] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    yield from _serve(db, load_catalogue(root), now)


@pytest.fixture
def denying(db: Database, now: dt.datetime, tmp_path: Path) -> Iterator[Api]:
    yield from _edited(db, now, tmp_path, effect=(1, "deny"))


@pytest.fixture
def reward_for_all(db: Database, now: dt.datetime, tmp_path: Path) -> Iterator[Api]:
    grades = {"model": "samr_risk", "grades": ["A", "B", "C", "D"]}
    yield from _edited(db, now, tmp_path, grade_condition=(0, grades))


def test_a_grade_reward_is_withheld_while_a_black_list_record_is_in_force(reward_for_all: Api) -> None:
    # Defect pinned: a grade's reward granted where a red list's would be withheld (docs/checks.md).
    full = check(reward_for_all, ORG, role="registrar")
    assert (
        graded(full)["class_a_fewer_random_checks"]["withheld"] is True and "expedite" not in full["effects"]
    )
    # ...and the decision says so, as a red list's withheld reward does (found by test_engine_property).
    assert any(n.startswith("red-list benefits withheld while") for n in full["notes"]), full["notes"]
    seen = check(reward_for_all, ORG)
    assert "class_a_fewer_random_checks" not in graded(seen) and "expedite" not in seen["effects"]
    assert graded(check(reward_for_all, CLEAN))["class_a_fewer_random_checks"].get("withheld") is None


def test_a_denying_grade_measure_denies_and_the_audit_says_so(denying: Api) -> None:
    body = check(denying, ORG)
    assert body["allowed"] is False and body["effects"][0] == "deny"
    assert graded(body)["class_cd_more_random_checks"]["grade"]["grade"] == "D"
    with denying.db.engine.connect() as conn:
        outcome = conn.execute(select(audit_log.c.outcome).where(audit_log.c.action == "checks.single"))
        assert [o for (o,) in outcome] == ["denied"]
