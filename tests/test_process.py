"""Due process: notice, objections (deadlines, suspension, decisions, reconsideration), repair, fulfilment,
expiry and publication, on both databases. Refused steps leave the store exactly as it was."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from factories import person_id
from process_helpers import file, flight_row, food_row, snapshot, suspending
from socialcredit.catalogue import Catalogue
from socialcredit.process import (
    NotAllowed,
    ProcessInvalid,
    decide_objection,
    decide_repair,
    expire_due,
    file_objection,
    fulfil,
    is_published,
    list_objections,
    request_reconsideration,
    request_repair,
)
from socialcredit.registry import (
    Conflict,
    NotFound,
    applies_at,
    check_row,
    display_status,
    file_batch,
    load_state,
)
from socialcredit.registry.state import day_end
from socialcredit.store import Database
from socialcredit.store.tables import outbox, record_events
from socialcredit.workdays import add_working_days, deadline, is_working_day

DAY = dt.timedelta(days=1)


def _events(db: Database, record_id: int) -> list[str]:
    with db.engine.connect() as conn:
        q = (
            select(record_events.c.type)
            .where(record_events.c.record_id == record_id)
            .order_by(record_events.c.seq)
        )
        return list(conn.execute(q).scalars())


# -- working days -------------------------------------------------------------------------------------------


def test_working_days_skip_weekends_holidays_and_count_makeup_days() -> None:
    assert add_working_days(dt.date(2026, 11, 20), 1) == dt.date(2026, 11, 23)  # Friday -> Monday
    assert not is_working_day(dt.date(2026, 10, 5))  # National Day week
    assert is_working_day(dt.date(2026, 10, 10))  # Saturday worked in exchange
    # From 30 Sep 2026: 1-7 Oct off, 8 and 9 Oct, Sat 10 Oct worked, then Mon 12 Oct.
    assert add_working_days(dt.date(2026, 9, 30), 4) == dt.date(2026, 10, 12)
    with pytest.raises(ValueError, match="negative"):
        add_working_days(dt.date(2026, 1, 1), -1)


def test_deadline_ends_at_the_local_midnight_after_the_last_day(now: dt.datetime) -> None:
    # now is Friday 20 Nov 2026, 12:00 in Beijing; 7 working days: 23 Nov .. 1 Dec.
    assert deadline(now, 7, True) == day_end(dt.date(2026, 12, 1))
    assert deadline(now, 15, False) == day_end(dt.date(2026, 12, 5))


# -- notice -------------------------------------------------------------------------------------------------


def test_court_records_apply_at_once(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    rid = file(db, catalogue, now)
    with db.engine.connect() as conn:
        state = load_state(conn, rid)
    assert applies_at(state, now) and display_status(state, now) == "in_force"


def test_notice_days_delay_the_measures_and_the_subject_sees_notified(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    rid = file(db, catalogue, now, _row=food_row())
    with db.engine.connect() as conn:
        state = load_state(conn, rid)
    assert state.applies_from == now + 5 * DAY
    assert not applies_at(state, now + 4 * DAY)
    assert display_status(state, now + DAY) == "notified"
    assert applies_at(state, now + 5 * DAY) and display_status(state, now + 5 * DAY) == "in_force"


# -- objections ---------------------------------------------------------------------------------------------


def test_defaulter_objection_is_due_in_15_days_and_does_not_suspend(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    rid = file(db, catalogue, now)
    with db.engine.begin() as conn:
        obj = file_objection(conn, catalogue, rid, "I paid in full on 1 Nov", "key1", now, counsel="张律师")
    assert obj["status"] == "pending" and obj["authority"] == "court" and obj["suspends"] is False
    assert obj["due_at"] == day_end(dt.date(2026, 12, 5)).isoformat()
    with db.engine.connect() as conn:
        state = load_state(conn, rid)
        assert applies_at(state, now + DAY) and state.suspensions == ()
        assert list_objections(conn, now=now + 10 * DAY, overdue=True) == []
        overdue = list_objections(conn, now=now + 16 * DAY, overdue=True)
    assert [o["id"] for o in overdue] == [obj["id"]] and overdue[0]["overdue"] is True
    assert _events(db, rid) == ["filed", "objected"]


def test_flight_list_objection_is_due_in_7_working_days(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    rid = file(db, catalogue, now, _row=flight_row())
    with db.engine.begin() as conn:
        obj = file_objection(conn, catalogue, rid, "Not me: my ID card was stolen", "key1", now)
    assert obj["due_at"] == day_end(dt.date(2026, 12, 1)).isoformat()


def test_suspending_objection_pauses_measures_until_decided(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    cat = suspending(catalogue)
    rid = file(db, cat, now - 10 * DAY, _row=food_row())
    with db.engine.begin() as conn:
        obj = file_objection(conn, cat, rid, "The penalty was set aside on appeal", "key1", now)
    with db.engine.connect() as conn:
        state = load_state(conn, rid)
    assert state.suspensions == ((now, None),)
    assert not applies_at(state, now + DAY) and display_status(state, now + DAY) == "suspended"
    assert applies_at(state, now - DAY)  # history before the objection is unchanged
    later = now + 3 * DAY
    with db.engine.begin() as conn:
        decide_objection(
            conn, obj["id"], "rejected", "The appeal was dismissed", "reg1", later, authority="samr"
        )
    with db.engine.connect() as conn:
        state = load_state(conn, rid)
    assert state.suspensions == ((now, later),)
    assert applies_at(state, later) and not applies_at(state, now + DAY)
    assert _events(db, rid) == ["filed", "objected", "objection_decided"]


def test_upheld_objection_corrects_the_named_fields(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    rid = file(db, catalogue, now)
    with db.engine.begin() as conn:
        obj = file_objection(conn, catalogue, rid, "My name is misspelt", "key1", now)
        done = decide_objection(
            conn, obj["id"], "upheld", "Name checked against the ID card", "reg1", now + DAY,
            authority="court", correction={"subject_name": "王芳芳", "effective_until": "2027-12-31"},
        )  # fmt: skip
        state = load_state(conn, rid)
    assert done["status"] == "upheld" and done["remedy"] == "corrected"
    assert done["correction"]["subject_name"] == "王芳芳"
    assert state.subject_name == "王芳芳" and state.effective_until == day_end(dt.date(2027, 12, 31))
    assert _events(db, rid) == ["filed", "objected", "objection_decided", "corrected"]


def test_upheld_objection_can_revoke(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    rid = file(db, catalogue, now)
    with db.engine.begin() as conn:
        obj = file_objection(conn, catalogue, rid, "Wrong person", "key1", now)
        decide_objection(conn, obj["id"], "upheld", "Identity mix-up", "reg1", now + DAY, revoke=True)
        state = load_state(conn, rid)
    assert state.status == "revoked" and not applies_at(state, now + DAY) and applies_at(state, now)


def test_rejected_objection_goes_to_the_parent_court_for_reconsideration(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    rid = file(db, catalogue, now)
    with db.engine.begin() as conn:
        obj = file_objection(conn, catalogue, rid, "I paid", "key1", now)
        decide_objection(
            conn, obj["id"], "rejected", "No proof of payment", "reg1", now + DAY, authority="court"
        )
        rec = request_reconsideration(
            conn, catalogue, obj["id"], "Here is the bank slip", "key1", now + 2 * DAY
        )
    assert (
        rec["stage"] == "reconsideration"
        and rec["authority"] == "court_higher"
        and rec["parent_id"] == obj["id"]
    )
    with db.engine.begin() as conn, pytest.raises(NotAllowed, match="court_higher"):
        decide_objection(
            conn, rec["id"], "upheld", "Slip is genuine", "reg1", now + 3 * DAY, authority="court"
        )
    with db.engine.begin() as conn:
        decide_objection(
            conn,
            rec["id"],
            "upheld",
            "Slip is genuine",
            "reg2",
            now + 3 * DAY,
            authority="court_higher",
            revoke=True,
        )
    assert _events(db, rid) == [
        "filed", "objected", "objection_decided", "reconsideration_requested", "reconsidered", "revoked",
    ]  # fmt: skip


def test_a_regulator_without_a_parent_reconsiders_its_own_decision(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    rid = file(db, catalogue, now, _row=food_row())
    with db.engine.begin() as conn:
        obj = file_objection(conn, catalogue, rid, "x", "key1", now)
        decide_objection(conn, obj["id"], "rejected", "no", "reg", now, authority="samr")
        rec = request_reconsideration(conn, catalogue, obj["id"], "again", "key1", now + DAY)
    assert rec["authority"] == "samr" and rec["due_at"] > rec["filed_at"]


def test_reconsideration_refused_where_the_category_has_none_or_too_late(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    rid = file(db, catalogue, now, _row=flight_row())
    court = file(db, catalogue, now)
    with db.engine.begin() as conn:
        a = file_objection(conn, catalogue, rid, "x", "key1", now)
        decide_objection(conn, a["id"], "rejected", "no", "reg", now)
        b = file_objection(conn, catalogue, court, "y", "key1", now)
        decide_objection(conn, b["id"], "rejected", "no", "reg", now)
    with db.engine.begin() as conn, pytest.raises(Conflict, match="provides no reconsideration"):
        request_reconsideration(conn, catalogue, a["id"], "again", "key1", now + DAY)
    with db.engine.begin() as conn, pytest.raises(ProcessInvalid, match="window closed"):
        request_reconsideration(conn, catalogue, b["id"], "again", "key1", now + 30 * DAY)


def test_bad_objection_steps_change_nothing(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    rid = file(db, catalogue, now)
    with db.engine.begin() as conn:
        obj = file_objection(conn, catalogue, rid, "grounds", "key1", now)
    with db.engine.connect() as conn:
        before = snapshot(conn)
    cases = [
        (ProcessInvalid, "grounds", lambda c: file_objection(c, catalogue, rid, "  ", "k", now)),
        (Conflict, "already has objection", lambda c: file_objection(c, catalogue, rid, "again", "k", now)),
        (NotFound, "no record", lambda c: file_objection(c, catalogue, 999, "g", "k", now)),
        (ProcessInvalid, "reason", lambda c: decide_objection(c, obj["id"], "rejected", "", "r", now)),
        (ProcessInvalid, "outcome", lambda c: decide_objection(c, obj["id"], "maybe", "r", "r", now)),  # type: ignore[arg-type]
        (ProcessInvalid, "remedy", lambda c: decide_objection(c, obj["id"], "upheld", "r", "r", now)),
        (ProcessInvalid, "correction.status", lambda c: decide_objection(
            c, obj["id"], "upheld", "r", "r", now, correction={"status": "revoked"})),
        (ProcessInvalid, "effective_until", lambda c: decide_objection(
            c, obj["id"], "upheld", "r", "r", now, correction={"effective_until": "2026-13-01"})),
        (NotAllowed, "authority court", lambda c: decide_objection(
            c, obj["id"], "rejected", "r", "r", now, authority="samr")),
    ]  # fmt: skip
    for exc, match, step in cases:
        with pytest.raises(exc, match=match), db.engine.begin() as conn:
            step(conn)
    with db.engine.connect() as conn:
        assert snapshot(conn) == before


def test_objection_to_an_ended_record_is_a_conflict(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    rid = file(db, catalogue, now)
    with db.engine.begin() as conn:
        fulfil(conn, catalogue, rid, "paid", "reg", now)
    with db.engine.begin() as conn, pytest.raises(Conflict, match="fulfilled"):
        file_objection(conn, catalogue, rid, "g", "k", now + DAY)


# -- repair, fulfilment -------------------------------------------------------------------------------------


def test_repair_after_the_minimum_period_lifts_at_once(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    cat = catalogue.categories["food_drug.serious_violation"]
    rid = file(db, catalogue, now, _row=food_row(decided_on="2025-06-01"))
    with db.engine.begin() as conn:
        req = request_repair(conn, catalogue, rid, "Fine paid, recall done", "I commit to ...", "key1", now)
    with db.engine.connect() as conn:
        state = load_state(conn, rid)
    assert req["status"] == "pending" and is_published(state, cat, now + DAY)
    later = now + 6 * DAY
    with db.engine.begin() as conn:
        decide_repair(
            conn, req["id"], True, "Conditions of Order 36 art. 12 met", "reg1", later, authority="samr"
        )
        state = load_state(conn, rid)
    assert state.status == "repaired" and state.ended_at == later
    assert applies_at(state, later - dt.timedelta(seconds=1)) and not applies_at(state, later)
    assert not is_published(state, cat, later)
    assert _events(db, rid)[-1] == "repaired"


def test_repair_refused_before_the_minimum_and_without_evidence(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    rid = file(db, catalogue, now, _row=food_row(decided_on="2026-11-01"))
    with db.engine.connect() as conn:
        before = snapshot(conn)
    with pytest.raises(ProcessInvalid, match="2027-11-0"), db.engine.begin() as conn:
        request_repair(conn, catalogue, rid, "done", "commit", "k", now)
    with pytest.raises(ProcessInvalid, match="commitment"), db.engine.begin() as conn:
        request_repair(conn, catalogue, rid, "done", " ", "k", now + 400 * DAY)
    with db.engine.connect() as conn:
        assert snapshot(conn) == before


def test_rejected_repair_keeps_the_record(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    rid = file(db, catalogue, now, _row=food_row())
    with db.engine.begin() as conn:
        req = request_repair(conn, catalogue, rid, "done", "commit", "k", now)
        with pytest.raises(Conflict, match="already has repair request"):
            request_repair(conn, catalogue, rid, "done", "commit", "k", now)
        out = decide_repair(conn, req["id"], False, "Fine still unpaid", "reg", now)
        assert out["status"] == "rejected" and out["decision_reason"] == "Fine still unpaid"
        assert load_state(conn, rid).status == "filed"


def test_fulfilment_ends_a_defaulter_listing_only(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    rid = file(db, catalogue, now)
    food = file(db, catalogue, now, _row=food_row())
    with db.engine.begin() as conn:
        state = fulfil(conn, catalogue, rid, "Paid in full", "reg", now + DAY, authority="court")
    assert state.status == "fulfilled" and not applies_at(state, now + DAY)
    assert not is_published(state, catalogue.categories[state.category], now + DAY)
    with pytest.raises(Conflict, match="does not end by fulfilment"), db.engine.begin() as conn:
        fulfil(conn, catalogue, food, "paid", "reg", now)


# -- expiry, publication ------------------------------------------------------------------------------------


def test_expiry_emits_one_expired_event_per_record(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    # An end given as filed (a default term would run from this filing's notice: decision 0100).
    old = file(db, catalogue, now, _row=flight_row(decided_on="2025-06-01", effective_until="2026-05-31"))
    live = file(db, catalogue, now, _row=flight_row(external_id="CA-2", subject_id=person_id(33)))
    assert expire_due(db.engine, now) == [old]
    assert expire_due(db.engine, now) == []
    with db.engine.connect() as conn:
        assert load_state(conn, old).status == "expired" and load_state(conn, live).status == "filed"
        types = list(conn.execute(select(outbox.c.type).where(outbox.c.record_id == old)).scalars())
    assert types == ["filed", "expired"]


def test_overlapping_sweeps_expire_each_record_once(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    # Defect pinned: the server, the dispatcher and `expire run` all sweep (docs/due-process.md); a sweep
    # appended `expired` to every id it had selected, even one another sweeper (or a revocation) had ended
    # while it waited for the writers' lock.
    import threading

    ids = [
        file(db, catalogue, now, _row=flight_row(external_id=f"CA-{i}", subject_id=person_id(40 + i),
                                                 decided_on="2025-06-01", effective_until="2026-05-31"))
        for i in range(12)
    ]  # fmt: skip
    results: list[list[int]] = []
    start = threading.Barrier(4)

    def sweep() -> None:
        start.wait()
        results.append(expire_due(db.engine, now, batch=3))

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(rid for r in results for rid in r) == ids
    with db.engine.connect() as conn:
        types = list(conn.execute(select(outbox.c.type).where(outbox.c.record_id.in_(ids))).scalars())
    assert types.count("expired") == len(ids)


def test_publication_ends_at_the_maximum_period(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    rid = file(db, catalogue, now, _row=food_row(decided_on="2025-06-01"))
    cat = catalogue.categories["food_drug.serious_violation"]
    with db.engine.connect() as conn:
        state = load_state(conn, rid)
    ends = day_end(dt.date(2025, 5, 31)) + 1095 * DAY
    assert is_published(state, cat, ends - dt.timedelta(seconds=1))
    assert not is_published(state, cat, ends)
    assert not is_published(state, cat.model_copy(update={"public": False}), now)


@pytest.mark.parametrize("path", ["api", "import"])
def test_a_ban_runs_from_the_end_of_its_notice_and_offers_no_repair_after_its_end(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path, path: str
) -> None:
    # Defect pinned (issue 16, item 11): decision 0100 says a flight or train ban's term runs from the end of its
    # 7 working days of notice, but the end was computed from the decision date (the ban lost its notice days),
    # and the repair date offered (decision date + min_days) could fall on or after the record's end.
    import json

    from socialcredit.process import publication_ends, repair_eligible_from
    from socialcredit.registry import import_file
    from socialcredit.web.labels import rights_for

    rows = [flight_row(), flight_row(external_id="RAIL-1", authority="railway", subject_id=person_id(35),
                                      category="transport.rail_serious_misconduct")]  # fmt: skip
    if path == "api":
        ids = [file(db, catalogue, now, _row=r) for r in rows]
    else:  # the import (its fast path computes the same: tests/test_fastcheck.py)
        source = tmp_path / "bans.jsonl"
        source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        assert import_file(db.engine, source, catalogue, "t", workers=0, now=now).filed == 2
        ids = [1, 2]
    notice = deadline(now, 7, True)  # the end of the 7th working day after filing
    with db.engine.connect() as conn:
        for rid, days in zip(ids, (365, 180), strict=True):
            st = load_state(conn, rid)
            cat = catalogue.categories[st.category]
            assert st.applies_from == notice and st.effective_until == notice + days * DAY
            assert publication_ends(st, cat) == st.effective_until
            repair = repair_eligible_from(st, catalogue)
            assert repair is None or repair < st.effective_until  # never after the end (here: none at all)
            shown = {"category": st.category, "authority": st.authority, "decided_on": st.decided_on.isoformat(),
                     "filed_at": st.filed_at.isoformat(), "applies_from": st.applies_from.isoformat(),
                     "valid_until": st.effective_until.isoformat()}  # fmt: skip
            rights = rights_for(catalogue, shown)
            assert rights is not None and rights.repair_from is None
    # An amendment a week later keeps the term on the original filing's clock.
    with db.engine.begin() as conn:
        before = load_state(conn, ids[0]).effective_until
        changed = check_row({**rows[0], "summary": "smoking on board"}, catalogue, now + 7 * DAY)
        (outcome,) = file_batch(conn, [changed], catalogue, "t", now + 7 * DAY)
        assert outcome.action == "amended" and load_state(conn, ids[0]).effective_until == before
    with db.engine.connect() as conn, pytest.raises(Conflict, match="ends by itself"):
        request_repair(conn, catalogue, ids[0], "paid", "I commit", "subject", now + 30 * DAY)
