"""grade(): every point names its record and rule; decay; ended and repaired records weigh nothing; thresholds;
bitemporal --at / --known-at; persons only under reward-only models. Each test fails on main (no grading)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import Engine

from factories import org_id, person_id
from socialcredit.catalogue import Catalogue
from socialcredit.grading import GradingRefused, ScoringModel, UnknownModel, UnknownSubject, grade
from socialcredit.grading.bulk import grade_columns, load_columns, score_columns
from socialcredit.registry import RecordState
from socialcredit.registry.writer import apply_event
from socialcredit.store import Database
from test_engine_support import file

DAY = dt.timedelta(days=1)
# tax.major_violation applies after 5 days of notice from filing; before that it does not score.
NOTICE = 6 * DAY


def tax(
    engine: Engine, catalogue: Catalogue, now: dt.datetime, n: int, decided: str, ext: str
) -> RecordState:
    """A serious black-list record (tax.major_violation, three years) about organisation ``n``."""
    return file(
        engine,
        catalogue,
        now,
        authority="sta",
        category="tax.major_violation",
        subject_id=org_id(n),
        subject_name=f"公司{n}",
        external_id=ext,
        decided_on=decided,
    )


def test_every_point_names_its_record_rule_and_basis(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    a = tax(db.engine, catalogue, now, 1, "2026-10-01", "t-1")
    b = tax(db.engine, catalogue, now, 1, "2026-11-01", "t-2")
    with db.engine.connect() as conn:
        notified = grade(conn, catalogue, org_id(1), "public_credit", as_of=now)
        g = grade(conn, catalogue, org_id(1), "public_credit", as_of=now + NOTICE)
    assert notified.score == 1000 and {p.status for p in notified.points} == {"notified"}
    model = catalogue.models["public_credit"]
    assert g.start == model.start == 1000
    assert [p.record_id for p in g.points] == [a.id, b.id]
    for p in g.points:
        assert p.category == "tax.major_violation" and p.rule == "black_serious" and p.base == -200
        assert p.decay == 1.0 and p.points == -200 and "国办发〔2019〕35号" in p.legal_basis
    assert g.score == 600 and g.grade == "差"
    assert [t for t, _ in g.thresholds] == ["优", "良", "中", "差"]
    d = g.to_dict()
    assert set(d) >= {
        "subject",
        "model",
        "as_of",
        "known_at",
        "start",
        "points",
        "score",
        "grade",
        "thresholds",
        "to_raise",
        "catalogue_version",
    }
    # What would raise it: each record can be repaired after NDRC Order 36's minimum, or ends after its term.
    actions = {(r["record_id"], r["action"]) for r in d["to_raise"]}
    assert actions == {(a.id, "ends"), (a.id, "repairable"), (b.id, "ends"), (b.id, "repairable")}
    assert all(r["grade_after"] == "中" for r in d["to_raise"])  # 800 without one of the two


def test_decay_by_age_and_nothing_after_the_end(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    st = tax(db.engine, catalogue, now, 2, "2026-11-01", "t-3")
    with db.engine.connect() as conn:

        def at(t: dt.datetime) -> tuple[float, float]:
            (p,) = grade(conn, catalogue, org_id(2), "public_credit", as_of=t).points
            return p.decay, p.points

        assert at(now + NOTICE) == (1.0, -200)
        assert at(now + 400 * DAY) == (0.6, -120)  # public_credit: step 0.6 from one year of age
        assert at(now + 800 * DAY) == (0.3, -60)
        # The term (1095 days) over: the record weighs nothing.
        assert st.valid_until is not None
        assert at(st.valid_until + DAY) == (0.0, 0)
        # samr_risk decays linearly to nothing at three years; never more weight later than earlier.
        ws = [
            grade(conn, catalogue, org_id(2), "samr_risk", as_of=now + NOTICE + k * 100 * DAY).points[0].decay
            for k in range(11)
        ]
        assert ws == sorted(ws, reverse=True) and ws[0] > ws[5] > 0


def test_repaired_record_weighs_nothing_from_the_repair(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    st = tax(db.engine, catalogue, now, 3, "2026-11-01", "t-4")
    later = now + 30 * DAY  # in force from now + 5 days
    with db.engine.begin() as conn:
        apply_event(
            conn, st.id, "repaired", lambda s: s.with_(status="repaired", ended_at=later), "test", later
        )
    with db.engine.connect() as conn:
        before = grade(conn, catalogue, org_id(3), "public_credit", as_of=later - DAY)
        after = grade(conn, catalogue, org_id(3), "public_credit", as_of=later + DAY)
        # Bitemporal: what the registry knew before the repair was recorded still deducts.
        known_before = grade(
            conn, catalogue, org_id(3), "public_credit", as_of=later + DAY, known_at=later - DAY
        )
    assert before.points[0].points == -200 and before.grade == "中"
    assert after.points[0].points == 0 and after.points[0].status == "repaired" and after.grade == "良"
    assert after.to_raise == ()
    assert known_before.points[0].points == -200 and known_before.grade == "中"


def test_known_at_leaves_out_later_filings(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    tax(db.engine, catalogue, now, 4, "2026-11-01", "t-5")
    tax(db.engine, catalogue, now + 10 * DAY, 4, "2026-11-10", "t-6")
    with db.engine.connect() as conn:
        then = grade(conn, catalogue, org_id(4), "public_credit", as_of=now + 30 * DAY, known_at=now + DAY)
        today = grade(conn, catalogue, org_id(4), "public_credit", as_of=now + 30 * DAY)
        # --at before the second decision took effect: it does not score yet.
        early = grade(conn, catalogue, org_id(4), "public_credit", as_of=now - 15 * DAY)
    assert len(then.points) == 1 and then.score == 800
    assert len(today.points) == 2 and today.score == 600
    assert len(early.points) == 1


def test_thresholds_bound_each_grade(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    from socialcredit.grading.rules import band

    m = catalogue.models["samr_risk"]
    assert [band(m, s) for s in (100, 90, 89.99, 70, 69, 45, 44.99, -500)] == [
        "A",
        "A",
        "B",
        "B",
        "C",
        "C",
        "D",
        "D",
    ]


def test_persons_only_under_reward_only_models(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    tax(db.engine, catalogue, now, 5, "2026-11-01", "t-7")
    file(db.engine, catalogue, now, subject_id=person_id(5), subject_name="王芳")
    with db.engine.connect() as conn:
        with pytest.raises(GradingRefused, match="not for punishment"):
            grade(conn, catalogue, person_id(5), "public_credit", as_of=now)
        with pytest.raises(GradingRefused, match="reward-only"):
            grade(conn, catalogue, person_id(5), as_of=now)
        # A reward-only model of persons, as the catalogue may mark one: a grade, from red-list records only.
        reward = ScoringModel.model_validate(
            {
                "code": "p",
                "title": "p",
                "kind": "person",
                "reward_only": True,
                "source": "s",
                "start": 0,
                "rules": [{"code": "red", "list": "red", "points": 10, "legal_basis": "b"}],
                "grades": [{"grade": "A", "min": 10}, {"grade": "B"}],
            }
        )
        cat = dataclasses.replace(catalogue, models={**catalogue.models, "p": reward})
        g = grade(conn, cat, person_id(5), "p", as_of=now)
        assert (
            g.grade == "B" and g.points == ()
        )  # the judgment-defaulter record is no reward: no rule scores it
        with pytest.raises(UnknownModel, match="nope"):
            grade(conn, catalogue, org_id(5), "nope", as_of=now)
        with pytest.raises(UnknownSubject):
            grade(conn, catalogue, org_id(99), "public_credit", as_of=now)


def test_bulk_grades_match_single_grades(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    for n in range(10, 16):
        for k in range(n % 3):
            tax(db.engine, catalogue, now - 200 * k * DAY, n, f"2026-0{k + 1}-01", f"b-{n}-{k}")
    as_of = now + 300 * DAY
    with db.engine.connect() as conn:
        cols = load_columns(conn, as_of)
        for code in ("public_credit", "samr_risk"):
            model = catalogue.models[code]
            _, score = score_columns(model, catalogue, cols, as_of)
            bands = grade_columns(model, score)
            for i, sid in enumerate(cols.ids):
                g = grade(conn, catalogue, sid, code, as_of=as_of)
                assert (g.score, g.grade) == (score[i], model.grades[bands[i]].grade), (code, sid)
