"""The engine: decisions, reasons, reach to linked persons, exact time, knowledge time, refresh, red list."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

import socialcredit.engine as engine_pkg
from factories import org_id, person_id
from socialcredit.catalogue import Catalogue, covers
from socialcredit.engine import Checker, Decision, Reason, UnknownAction
from socialcredit.identifiers import IdentifierError
from socialcredit.registry import apply_event, check_row, file_batch, revoke
from socialcredit.store import Database
from socialcredit.store.tables import record_events
from test_engine_support import file, red_catalogue, reference, subject_for

US = dt.timedelta(microseconds=1)


def test_public_api() -> None:
    assert engine_pkg.__all__ == sorted(engine_pkg.__all__)
    assert {"Checker", "Decision", "Reason", "UnknownAction"} <= set(engine_pkg.__all__)


def _without_as_of(d: Decision) -> dict[str, object]:
    out = d.to_dict()
    del out["as_of"]
    return out


def test_each_default_memorandum_measure_applies(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    """Table test over whatever the default catalogue holds: each trigger category, each measure, each action
    it covers, each person it reaches gets the measure's effect with the right reason fields."""
    n = 100
    cases = []
    for memo in catalogue.memoranda.values():
        for category in memo.triggers:
            n += 1
            cat = catalogue.categories[category]
            st = file(
                db.engine,
                catalogue,
                now,
                external_id=f"T{n}",
                authority=cat.authorities[0],
                category=category,
                decided_on=(now - dt.timedelta(days=1)).date().isoformat(),
                **subject_for(catalogue, category, n),
            )
            cases.append((memo, st))
    assert cases, "the default catalogue has no memorandum"
    checker = Checker(db.engine, catalogue)
    for memo, st in cases:
        as_of = st.applies_from
        assert st.valid_until is None or as_of < st.valid_until
        people = {"subject": st.subject_id, **{role: p for p, role in st.linked()}}
        for m in memo.measures:
            actions = [a for a in catalogue.actions if any(covers(p, a) for p in m.actions)]
            assert actions
            for via in m.applies_to:
                for action in actions:
                    d = checker.check(people[via], action, as_of=as_of)
                    want = Reason(
                        st.id,
                        st.category,
                        memo.code,
                        m.code,
                        m.department,
                        m.effect,
                        m.legal_basis,
                        st.valid_until,
                        via,
                        None if via == "subject" else st.subject_id,
                        False,
                    )
                    assert want in d.reasons, (memo.code, m.code, via, action, d.reasons)
                    assert m.effect in d.effects
                    assert d.known
                    assert d.allowed == ("deny" not in d.effects)
                    if m.effect == "deny":
                        assert not d.allowed
                    assert _without_as_of(d) == reference(db.engine, catalogue, people[via], action, as_of)


def test_judgment_defaulter_denied_flight_and_procurement(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    st = file(
        db.engine,
        catalogue,
        now,
        subject_id=org_id(1),
        subject_name="某公司",
        legal_representative_id=person_id(3),
        legal_representative_name="张三",
    )
    checker = Checker(db.engine, catalogue)
    as_of = now
    d = checker.check(org_id(1), "government.procurement.bid", as_of=as_of)
    assert not d.allowed and "deny" in d.effects and d.known
    denying = [r for r in d.reasons if r.effect == "deny"]
    assert denying
    measures = {(memo.code, m.code): m for memo, m in catalogue.measures_for(st.category)}
    for r in denying:
        m = measures[(r.memorandum, r.measure)]
        assert (r.record_id, r.category, r.via, r.via_subject) == (
            st.id,
            "court.judgment_defaulter",
            "subject",
            None,
        )
        assert (r.department, r.legal_basis, r.valid_until) == (m.department, m.legal_basis, st.valid_until)
    rep = checker.check(person_id(3), "transport.air.ticket", as_of=as_of)
    assert not rep.allowed
    link = [r for r in rep.reasons if r.effect == "deny"]
    assert link and all(
        r.via == "legal_representative" and r.via_subject == org_id(1) and r.record_id == st.id for r in link
    )
    # A measure reaches the legal representative only where the catalogue says so.
    for r in checker.check(person_id(3), "government.procurement.bid", as_of=as_of).reasons:
        assert "legal_representative" in measures[(r.memorandum, r.measure)].applies_to
    as_dict = rep.to_dict()
    assert set(as_dict) == {
        "subject",
        "known",
        "action",
        "as_of",
        "allowed",
        "effects",
        "reasons",
        "catalogue_version",
        "notes",
    }
    assert {
        "record_id",
        "category",
        "memorandum",
        "measure",
        "department",
        "effect",
        "legal_basis",
        "valid_until",
        "via",
        "via_subject",
        "withheld",
    } <= set(as_dict["reasons"][0])


def test_prefix_coverage(db: Database, tmp_path: Path, now: dt.datetime) -> None:
    cat = red_catalogue(tmp_path)
    file(db.engine, cat, now)
    checker = Checker(db.engine, cat)
    for action in ("transport.rail", "transport.rail.g_train", "transport.rail.g_train.ticket"):
        d = checker.check(person_id(11), action, as_of=now)
        assert [r.measure for r in d.reasons if r.memorandum == "zz_test_rail"] == ["rail_review"], action
        assert "review" in d.effects
    # A check on the broader `transport` takes the strictest effect of anything under it (decision 0201; it
    # used to say nothing about the parent): the rail measure is among its reasons.
    broad = checker.check(person_id(11), "transport", as_of=now)
    assert [r.measure for r in broad.reasons if r.memorandum == "zz_test_rail"] == ["rail_review"]


def test_a_broader_action_takes_the_strictest_effect_under_it(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    # Defect pinned (issue 16, item 12): the flight ban is on transport.air.ticket, and a check on
    # transport.air (docs/api.md's own batch example) answered "allowed" for a banned person. Decision 0201.
    file(db.engine, catalogue, now)  # a judgment defaulter: no air tickets
    file(db.engine, catalogue, now, category="court.consumption_restriction", external_id="X-2")
    checker = Checker(db.engine, catalogue)
    leaf = checker.check(person_id(11), "transport.air.ticket", as_of=now)
    assert not leaf.allowed
    for action in ("transport.air", "transport"):
        broad = checker.check(person_id(11), action, as_of=now)
        assert not broad.allowed and "deny" in broad.effects, action
        assert {(r.memorandum, r.measure) for r in leaf.reasons} <= {
            (r.memorandum, r.measure) for r in broad.reasons
        }
        assert _without_as_of(broad) == reference(db.engine, catalogue, person_id(11), action, now)
    # The batch path answers the same, from the same compiled rules.
    queries = [
        (person_id(11), a) for a in ("transport", "transport.air", "transport.air.ticket", "transport.water")
    ]
    batch = checker.check_many(queries, as_of=now)
    assert [d.to_dict() for d in batch] == [checker.check(s, a, as_of=now).to_dict() for s, a in queries]
    # Someone else: still allowed on the broad action.
    assert checker.check(person_id(12), "transport.air", as_of=now).allowed


def test_protected_actions_stay_unrestricted_however_broad_the_check(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    # Counter-check of decision 0201: looking below a broader action must never let a measure reach a
    # protected action (due_process.*, legal.counsel), nor a check on a prefix that only holds protected ones.
    file(db.engine, catalogue, now)
    file(db.engine, catalogue, now, category="court.consumption_restriction", external_id="X-2")
    checker = Checker(db.engine, catalogue)
    protected = [a for a in catalogue.actions if catalogue.is_protected(a)]
    assert {"due_process", "due_process.object", "legal.counsel"} <= set(protected)
    for action in [*protected, "legal"]:
        d = checker.check(person_id(11), action, as_of=now)
        assert d.allowed and not d.reasons and not d.effects, action
    assert all(
        d.allowed and not d.reasons for d in checker.check_many([(person_id(11), a) for a in protected])
    )


def test_unknown_action_is_an_error(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    file(db.engine, catalogue, now)
    checker = Checker(db.engine, catalogue)
    with pytest.raises(UnknownAction, match=r"transport\.teleport"):
        checker.check(person_id(11), "transport.teleport")
    with pytest.raises(UnknownAction, match=r"transport\.air\.tick"):
        checker.check_many([(person_id(11), "transport.air.ticket"), (person_id(11), "transport.air.tick")])
    with pytest.raises(UnknownAction):
        checker.check(person_id(11), "transport.teleport", known_at=now)
    assert isinstance(UnknownAction("x"), ValueError)


def test_unknown_and_malformed_subjects(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    file(db.engine, catalogue, now)
    checker = Checker(db.engine, catalogue)
    d = checker.check(person_id(99), "transport.air.ticket")
    assert (d.known, d.allowed, d.reasons, d.effects) == (False, True, (), ())
    # Lower-case and spaced input is canonicalised before the lookup.
    assert not checker.check(" " + person_id(11).lower(), "transport.air.ticket").allowed
    with pytest.raises(IdentifierError):
        checker.check("110105198001010113", "transport.air.ticket")  # wrong check character
    with pytest.raises(IdentifierError):
        checker.check_many([("not-an-id", "transport.air.ticket")])
    with pytest.raises(ValueError, match="as_of"):
        checker.check(person_id(11), "transport.air.ticket", as_of=dt.datetime(2026, 1, 1))


def test_as_of_boundaries_are_exact(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    st = file(db.engine, catalogue, now, effective_from="2025-07-01", effective_until="2025-12-31")
    checker = Checker(db.engine, catalogue, history=None)
    sid, act = person_id(11), "transport.air.ticket"
    assert st.valid_until is not None
    assert checker.check(sid, act, as_of=st.applies_from - US).allowed
    assert not checker.check(sid, act, as_of=st.applies_from).allowed
    assert not checker.check(sid, act, as_of=st.valid_until - US).allowed
    assert checker.check(sid, act, as_of=st.valid_until).allowed
    # Before the cutoff of a checker that forgets old records, the store answers, just as exactly.
    forgetful = Checker(db.engine, catalogue, history=dt.timedelta(0))
    assert not forgetful.check(sid, act, as_of=st.valid_until - US).allowed
    assert forgetful.check(sid, act, as_of=st.valid_until).allowed
    assert [d.allowed for d in forgetful.check_many([(sid, act)] * 2, as_of=st.applies_from)] == [
        False,
        False,
    ]


def test_suspension_pauses_measures(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    st = file(db.engine, catalogue, now)
    checker = Checker(db.engine, catalogue)
    a, b = now + dt.timedelta(days=1), now + dt.timedelta(days=3)
    with db.engine.begin() as conn:
        apply_event(conn, st.id, "suspended", lambda s: s.with_(suspensions=((a, b),)), "test", now)
    assert checker.refresh() == 1
    sid, act = person_id(11), "transport.air.ticket"
    assert [checker.check(sid, act, as_of=x).allowed for x in (a - US, a, b - US, b)] == [
        False,
        True,
        True,
        False,
    ]


def test_known_at_sees_what_the_registry_knew(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    t1 = now
    st = file(db.engine, catalogue, t1, effective_until="2026-12-31")
    t2 = t1 + dt.timedelta(days=2)
    amended = file(db.engine, catalogue, t2, effective_until="2026-12-10")  # same key: an amendment
    assert amended.id == st.id and amended.valid_until != st.valid_until
    checker = Checker(db.engine, catalogue)
    sid, act = person_id(11), "transport.air.ticket"
    as_of = dt.datetime(2026, 12, 20, tzinfo=dt.UTC)
    assert checker.check(sid, act, as_of=as_of).allowed  # now known: ended on 10 December
    then = checker.check(sid, act, as_of=as_of, known_at=t2 - US)
    assert not then.allowed and then.reasons[0].valid_until == st.valid_until
    before = checker.check(sid, act, as_of=as_of, known_at=t1 - US)
    assert (before.known, before.allowed) == (False, True)
    assert _without_as_of(checker.check(sid, act, as_of=as_of, known_at=t2)) == _without_as_of(
        checker.check(sid, act, as_of=as_of)
    )
    many = checker.check_many([(sid, act), (person_id(99), act)], as_of=as_of, known_at=t2 - US)
    assert [d.allowed for d in many] == [False, True]


def test_revocation_lifts_at_once_after_refresh(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    st = file(
        db.engine,
        catalogue,
        now,
        subject_id=org_id(1),
        subject_name="某公司",
        legal_representative_id=person_id(3),
        legal_representative_name="张三",
    )
    checker = Checker(db.engine, catalogue)
    assert not checker.check(person_id(3), "transport.air.ticket").allowed
    with db.engine.begin() as conn:
        revoke(conn, st.id, "performed", "test", now)
    assert checker.refresh() == 1
    assert checker.refresh() == 0
    with db.engine.connect() as conn:
        assert checker.last_seq == conn.execute(select(func.max(record_events.c.seq))).scalar_one()
    for sid in (org_id(1), person_id(3)):
        d = checker.check(sid, "transport.air.ticket")
        assert d.allowed and d.known and not d.reasons
    # History stays exact: before the revocation the measure applied.
    assert not checker.check(person_id(3), "transport.air.ticket", as_of=now - US).allowed


def test_incremental_refresh_equals_fresh_build(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    early = Checker(db.engine, catalogue, history=None)
    a = file(
        db.engine,
        catalogue,
        now,
        external_id="A",
        subject_id=org_id(1),
        subject_name="甲",
        legal_representative_id=person_id(3),
        legal_representative_name="张三",
    )
    file(db.engine, catalogue, now, external_id="B", subject_id=person_id(5), subject_name="李四")
    mid = Checker(db.engine, catalogue, history=None)
    # Amend A to change its legal representative: the old one must be released, the new one reached.
    file(
        db.engine,
        catalogue,
        now + US,
        external_id="A",
        subject_id=org_id(1),
        subject_name="甲",
        legal_representative_id=person_id(4),
        legal_representative_name="王五",
        actual_controller_id=person_id(6),
        actual_controller_name="赵六",
    )
    with db.engine.begin() as conn:
        revoke(conn, 2, "performed", "test", now + 2 * US)
    assert early.refresh() == 4
    assert mid.refresh() == 2
    fresh = Checker(db.engine, catalogue, history=None)
    assert early.index.dump() == fresh.index.dump() == mid.index.dump()
    assert early.index.known == fresh.index.known == mid.index.known
    assert fresh.last_seq == early.last_seq == mid.last_seq
    assert not fresh.check(person_id(4), "transport.air.ticket", as_of=now).allowed
    assert fresh.check(person_id(3), "transport.air.ticket", as_of=now + US).allowed
    assert fresh.check(person_id(3), "transport.air.ticket", as_of=now + US).known
    assert a.id == 1


def test_red_list_expedite_withheld_while_blacklisted(db: Database, tmp_path: Path, now: dt.datetime) -> None:
    cat = red_catalogue(tmp_path)
    org = org_id(8)
    red = file(
        db.engine,
        cat,
        now,
        external_id="R1",
        authority="sta",
        category="tax.a_grade",
        subject_id=org,
        subject_name="好公司",
        decided_on="2026-01-05",
    )
    checker = Checker(db.engine, cat)
    d = checker.check(org, "customs.green_channel", as_of=now)
    assert d.allowed and d.effects == ("expedite",) and not d.notes
    (r,) = [r for r in d.reasons if r.memorandum == "zz_test_reward"]
    assert (r.record_id, r.category, r.memorandum, r.measure, r.department, r.withheld) == (
        red.id,
        "tax.a_grade",
        "zz_test_reward",
        "green_channel",
        "gacc",
        False,
    )
    black = file(db.engine, cat, now, external_id="B1", subject_id=org, subject_name="好公司")
    checker.refresh()
    d = checker.check(org, "customs.green_channel", as_of=now)
    assert d.allowed and d.effects == () and d.reasons and all(r.withheld for r in d.reasons)
    assert d.notes and f"record {black.id}" in d.notes[0] and "withheld" in d.notes[0]
    assert _without_as_of(d) == reference(db.engine, cat, org, "customs.green_channel", now)
    with db.engine.begin() as conn:
        revoke(conn, black.id, "performed", "test", now + US)
    checker.refresh()
    assert checker.check(org, "customs.green_channel", as_of=now + US).effects == ("expedite",)


def test_check_many_matches_check(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    file(
        db.engine,
        catalogue,
        now,
        subject_id=org_id(1),
        subject_name="某公司",
        legal_representative_id=person_id(3),
        legal_representative_name="张三",
    )
    with db.engine.begin() as conn:
        f = check_row(
            {
                "external_id": "x",
                "authority": "court",
                "category": "court.judgment_defaulter",
                "subject_id": person_id(7),
                "subject_name": "甲",
                "decision_no": "d",
                "decided_on": "2025-01-01",
            },
            catalogue,
            now,
        )
        file_batch(conn, [f], catalogue, "test", now)
    checker = Checker(db.engine, catalogue)
    subjects = [org_id(1), person_id(3), person_id(7), person_id(99), person_id(7).lower()]
    queries = [
        (s, a) for s in subjects for a in ("transport.air.ticket", "government.procurement.bid", "legal")
    ]
    many = checker.check_many(queries, as_of=now)
    assert len(many) == len(queries)
    assert [d.to_dict() for d in many] == [checker.check(s, a, as_of=now).to_dict() for s, a in queries]
    assert checker.check_many([]) == []
    assert many[0] == checker.check(org_id(1), "transport.air.ticket", as_of=now)
