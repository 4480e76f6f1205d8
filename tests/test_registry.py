"""The registry: filing checks, the append-only event log, the projection, bitemporal reads, revocation.

Filing checks are pure (``check_row``); everything that stores runs on the ``db`` fixture (both databases).
The test catalogue is the shipped one plus a few categories that exercise each end rule.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from factories import org_id, person_id, registry_catalogue, row, samr
from socialcredit.catalogue import Catalogue
from socialcredit.registry import (
    Conflict,
    NotFound,
    RecordState,
    RowInvalid,
    applies_at,
    check_row,
    day_end,
    day_start,
    file_batch,
    load_state,
    rebuild,
    revoke,
    states_for_subject,
)
from socialcredit.registry.writer import _state, event_payload, feed_payload
from socialcredit.store import Database
from socialcredit.store.tables import outbox, record_events, records, subjects


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return registry_catalogue()


def errors_of(r: dict[str, Any], cat: Catalogue, now: dt.datetime) -> list[tuple[str, str]]:
    with pytest.raises(RowInvalid) as exc:
        check_row(r, cat, now)
    return [(e.field, e.reason) for e in exc.value.errors]


# --- filing checks -----------------------------------------------------------------------------------------


def test_valid_row_becomes_a_filing(cat: Catalogue, now: dt.datetime) -> None:
    f = check_row(row(), cat, now)
    assert f.subject.canonical == person_id(11) and f.category == "court.judgment_defaulter"
    assert f.effective_from == day_start(dt.date(2025, 6, 1))
    assert f.legal_basis == cat.categories["court.judgment_defaulter"].legal_basis


def test_authority_must_be_allowed_to_file_thecategory(cat: Catalogue, now: dt.datetime) -> None:
    errs = errors_of(row(authority="samr"), cat, now)
    assert errs == [("authority", "may not file category 'court.judgment_defaulter' (filed by: court)")]


def test_unknown_authority_andcategory(cat: Catalogue, now: dt.datetime) -> None:
    assert ("authority", "unknown authority") in errors_of(row(authority="nobody"), cat, now)
    assert ("category", "unknown category") in errors_of(row(category="court.nothing"), cat, now)


def test_subject_kind_must_fit_thecategory(cat: Catalogue, now: dt.datetime) -> None:
    assert errors_of(samr(category="test.orgs"), cat, now) == [
        ("subject_id", "a person cannot be listed in 'test.orgs'")
    ]
    assert (
        check_row(samr(category="test.orgs", subject_id=org_id(3)), cat, now).subject.kind == "organisation"
    )


def test_minors_are_refused_on_black_lists_not_on_red(cat: Catalogue, now: dt.datetime) -> None:
    minor = person_id(11, birth="20100101")
    assert errors_of(row(subject_id=minor), cat, now) == [
        ("subject_id", "a minor (aged 15) may not be listed")
    ]
    assert check_row(samr(category="test.red", subject_id=minor), cat, now).subject.canonical == minor


def test_decision_in_the_future_is_refused(cat: Catalogue, now: dt.datetime) -> None:
    assert errors_of(row(decided_on="2026-11-21"), cat, now) == [
        ("decided_on", "in the future (today is 2026-11-20)")
    ]
    assert check_row(row(decided_on="2026-11-20"), cat, now)  # today, China time, is fine


def test_dates_must_be_coherent(cat: Catalogue, now: dt.datetime) -> None:
    errs = errors_of(samr(effective_from="2025-06-10", effective_until="2025-06-01"), cat, now)
    assert ("effective_until", "before effective_from") in errs
    assert errors_of(samr(effective_from="2025-05-01"), cat, now) == [("effective_from", "before decided_on")]
    assert errors_of(samr(decided_on="2025-02-30"), cat, now) == [
        ("decided_on", "not a real date (YYYY-MM-DD)")
    ]
    assert errors_of(samr(decided_on="1/6/2025"), cat, now) == [
        ("decided_on", "expected a date as YYYY-MM-DD")
    ]
    # Dates whose instants would not exist (they raised OverflowError): refused, naming the range.
    out = "out of range: expected 1900-01-01 to 2999-12-31"
    assert errors_of(samr(decided_on="0001-01-01"), cat, now) == [("decided_on", out)]
    assert errors_of(samr(effective_from="9999-12-30"), cat, now) == [("effective_from", out)]
    assert errors_of(samr(effective_until="9999-12-31"), cat, now) == [("effective_until", out)]
    assert errors_of(samr(decided_on="9999-12-31"), cat, now) == [("decided_on", out)]


def test_end_defaults_from_thecategory(cat: Catalogue, now: dt.datetime) -> None:
    f = check_row(samr(), cat, now)
    # 365 days counted inclusively from 2025-06-01: in force through 2026-05-31, China time.
    assert f.effective_until == day_end(dt.date(2026, 5, 31)) == day_start(dt.date(2026, 6, 1))
    judged = check_row(row(), cat, now)  # ends by fulfilment, at most 1,825 days
    assert judged.effective_until == day_end(dt.date(2025, 6, 1) + dt.timedelta(days=1824))


def test_no_end_refused_unless_the_category_ends_by_fulfilment(cat: Catalogue, now: dt.datetime) -> None:
    assert errors_of(samr(category="test.no_end"), cat, now) == [
        ("effective_until", "required: category 'test.no_end' has no default end")
    ]
    assert check_row(samr(category="test.open"), cat, now).effective_until is None


def test_too_long_a_duration_is_refused(cat: Catalogue, now: dt.datetime) -> None:
    assert errors_of(samr(effective_until="2027-06-01"), cat, now) == [
        ("effective_until", "longer than the 730 days category 'test.fixed' allows")
    ]
    assert check_row(samr(effective_until="2027-05-31"), cat, now)


def test_every_error_is_reported_at_once(cat: Catalogue, now: dt.datetime) -> None:
    errs = errors_of(
        {
            "external_id": "",
            "authority": "court",
            "category": "court.judgment_defaulter",
            "subject_id": "12345",
            "decided_on": "2025-13-01",
            "colour": "red",
        },
        cat,
        now,
    )
    fields = [f for f, _ in errs]
    assert {"colour", "external_id", "subject_name", "decision_no", "subject_id", "decided_on"} <= set(fields)


def test_linked_persons(cat: Catalogue, now: dt.datetime) -> None:
    ok = check_row(
        row(subject_id=org_id(1), legal_representative_id=person_id(3), legal_representative_name="李四"),
        cat,
        now,
    )
    assert ok.legal_representative is not None and ok.legal_representative.kind == "person"
    assert errors_of(row(legal_representative_id=person_id(3)), cat, now) == [
        ("legal_representative_id", "only an organisation has a linked person")
    ]
    assert errors_of(row(subject_id=org_id(1), legal_representative_id=org_id(2)), cat, now) == [
        ("legal_representative_id", "a linked person must be a person's identifier")
    ]


# --- storing: append-only events and the projection ------------------------------------------------------


def file(conn: Connection, cat: Catalogue, now: dt.datetime, **overrides: Any) -> Any:
    (outcome,) = file_batch(conn, [check_row(row(**overrides), cat, now)], cat, "test", now)
    return outcome


def count(conn: Connection, table: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_filing_writes_event_outbox_projection_and_subjects(
    db: Database, cat: Catalogue, now: dt.datetime
) -> None:
    with db.engine.begin() as conn:
        o = file(
            conn,
            cat,
            now,
            subject_id=org_id(1),
            legal_representative_id=person_id(3),
            legal_representative_name="李四",
        )
        assert o.action == "filed" and o.seq == 1
        st = load_state(conn, o.record_id)
        assert (
            st.status == "filed"
            and st.filed_at == now
            and st.linked() == ((person_id(3), "legal_representative"),)
        )
        (ev,) = conn.execute(select(record_events)).mappings().all()
        assert (ev["type"], ev["actor"], ev["recorded_at"]) == ("filed", "test", now)
        assert RecordState.from_json(ev["state"]) == st
        (ob,) = conn.execute(select(outbox)).mappings().all()
        # The payload is not stored: the feed derives it from the event, as the writer would have written it.
        assert ob["event_seq"] == 1 and "payload" not in ob
        derived = feed_payload(1, ev["type"], ev["reason"], ev["recorded_at"], ev["state"])
        assert derived == event_payload(1, "filed", st, now, None)
        assert {r.id: r.kind for r in conn.execute(select(subjects))} == {
            org_id(1): "organisation",
            person_id(3): "person",
        }


def test_fast_path_texts_equal_the_record_state(db: Database, cat: Catalogue, now: dt.datetime) -> None:
    """The bulk writer builds event texts without a RecordState; they must be what RecordState would write."""
    with db.engine.begin() as conn:
        for i, extra in enumerate(
            [
                {},
                {
                    "subject_id": org_id(1),
                    "legal_representative_id": person_id(3),
                    "legal_representative_name": "李四",
                },
            ]
        ):
            f = check_row(row(external_id=f"X{i}", **extra), cat, now)
            (o,) = file_batch(conn, [f], cat, "test", now)
            expected = _state(f, o.record_id, now, cat)
            body = conn.execute(
                select(record_events.c.state).where(record_events.c.seq == o.seq)
            ).scalar_one()
            assert body == expected.to_json()
        # Texts COPY must escape (PostgreSQL's path sends rows as COPY text), stored and read back unchanged.
        odd = 'tab\there, line\nbreak, back\\slash \\N, "quoted", \u2028 京'
        f = check_row(row(external_id="X\\2", subject_name=odd, summary=odd, decision_no=odd), cat, now)
        (o,) = file_batch(conn, [f], cat, "te\\st\tactor", now)
        stored = conn.execute(
            select(records.c.subject_name, records.c.summary, records.c.external_id).where(
                records.c.id == o.record_id
            )
        ).one()
        assert tuple(stored) == (odd, odd, "X\\2")
        assert load_state(conn, o.record_id).to_json() == _state(f, o.record_id, now, cat).to_json()
        assert (
            conn.execute(select(record_events.c.actor).where(record_events.c.seq == o.seq)).scalar_one()
            == "te\\st\tactor"
        )
        notice = check_row(samr(category="test.notice", external_id="N"), cat, now)
        (o,) = file_batch(conn, [notice], cat, "test", now)
        assert load_state(conn, o.record_id).applies_from == now + dt.timedelta(days=10)


def test_identical_refile_changes_nothing(db: Database, cat: Catalogue, now: dt.datetime) -> None:
    with db.engine.begin() as conn:
        first = file(conn, cat, now)
        again = file(conn, cat, now + dt.timedelta(hours=1))
        assert (again.action, again.record_id, again.seq) == ("unchanged", first.record_id, None)
        assert count(conn, record_events) == count(conn, outbox) == count(conn, records) == 1


def test_amendment_is_a_new_event_and_history_stays(db: Database, cat: Catalogue, now: dt.datetime) -> None:
    later = now + dt.timedelta(days=1)
    with db.engine.begin() as conn:
        first = file(conn, cat, now)
        old_body = conn.execute(select(record_events.c.state)).scalar_one()
        amended = file(conn, cat, later, summary="amended summary")
        assert (amended.action, amended.record_id, amended.seq) == ("amended", first.record_id, 2)
        events = conn.execute(select(record_events).order_by(record_events.c.seq)).mappings().all()
        assert [e["type"] for e in events] == ["filed", "amended"]
        assert events[0]["state"] == old_body  # the first event is never rewritten
        st = load_state(conn, first.record_id)
        assert st.summary == "amended summary" and st.filed_at == now
        assert conn.execute(select(records.c.version, records.c.summary)).one() == (2, "amended summary")
        assert count(conn, records) == 1 and count(conn, outbox) == 2


def test_amendment_cannot_change_subject(db: Database, cat: Catalogue, now: dt.datetime) -> None:
    with db.engine.begin() as conn:
        file(conn, cat, now)
        with pytest.raises(Conflict, match="cannot change subject or category"):
            file(conn, cat, now, subject_id=person_id(13))


def test_rebuild_reproduces_the_projection_exactly(db: Database, cat: Catalogue, now: dt.datetime) -> None:
    """The rebuilt table (written through SQLAlchemy from each record's last state) equals the one the writers
    made, the bulk writer's included: one batch mixing rows with different null columns (SQLite's writer
    inserts each pattern with its own statement, so ids arrive out of order)."""
    with db.engine.begin() as conn:
        for i in range(5):
            file(conn, cat, now, external_id=f"R{i}", subject_id=person_id(i))
        org = {"subject_id": org_id(7), "legal_representative_id": person_id(8)}
        mixed = [
            samr(external_id="M0", **org, legal_representative_name="李四"),
            samr(external_id="M1"),
            samr(external_id="M2", **org, actual_controller_id=person_id(9), actual_controller_name="王五"),
            samr(external_id="M3", category="test.open", effective_until=None),
            samr(external_id="M4", **org, actual_controller_id=person_id(9)),
            # Before 2000 (negative in binary COPY's counts), and a local midnight with Shanghai's old offset.
            samr(external_id="M5", decided_on="1900-01-01", subject_id=person_id(21, birth="18700101")),
        ]
        done = file_batch(conn, [check_row(r, cat, now) for r in mixed], cat, "test", now)
        assert [o.action for o in done] == ["filed"] * 6
        file(
            conn,
            cat,
            now + dt.timedelta(hours=2),
            external_id="R1",
            subject_id=person_id(1),
            summary="changed",
        )
        revoke(conn, 3, "filed in error", "test", now + dt.timedelta(hours=3))
        before = [tuple(r) for r in conn.execute(select(records).order_by(records.c.id))]
        assert rebuild(conn) == 11
        after = [tuple(r) for r in conn.execute(select(records).order_by(records.c.id))]
        assert after == before


def test_known_at_returns_the_state_as_then_known(db: Database, cat: Catalogue, now: dt.datetime) -> None:
    later = now + dt.timedelta(days=2)
    subject = person_id(11)
    with db.engine.begin() as conn:
        file(conn, cat, now)
        file(conn, cat, later, summary="corrected")
        (then,) = states_for_subject(conn, subject, known_at=now + dt.timedelta(days=1))
        (current,) = states_for_subject(conn, subject)
        assert then.summary == "" and current.summary == "corrected"
        assert states_for_subject(conn, subject, known_at=now - dt.timedelta(seconds=1)) == []


def test_linked_person_sees_the_record(db: Database, cat: Catalogue, now: dt.datetime) -> None:
    with db.engine.begin() as conn:
        file(
            conn,
            cat,
            now,
            subject_id=org_id(1),
            legal_representative_id=person_id(3),
            legal_representative_name="李四",
        )
        assert len(states_for_subject(conn, person_id(3))) == 1
        assert states_for_subject(conn, person_id(3), linked=False) == []


def test_revocation_ends_force_from_its_instant(db: Database, cat: Catalogue, now: dt.datetime) -> None:
    at = now + dt.timedelta(days=3)
    with db.engine.begin() as conn:
        o = file(conn, cat, now)
        st, seq = revoke(conn, o.record_id, "decision quashed", "court-clerk", at)
        assert (st.status, st.ended_at, seq) == ("revoked", at, 2)
        assert applies_at(st, at - dt.timedelta(seconds=1)) and not applies_at(st, at)
        ev = conn.execute(select(record_events).where(record_events.c.seq == 2)).mappings().one()
        assert (ev["type"], ev["reason"], ev["actor"]) == ("revoked", "decision quashed", "court-clerk")
        with pytest.raises(Conflict, match="already revoked"):
            revoke(conn, o.record_id, "again", "x", at)
        with pytest.raises(Conflict, match="is revoked"):
            file(conn, cat, at, summary="amend a revoked record")
        with pytest.raises(NotFound):
            revoke(conn, 999, "none", "x", at)
        with pytest.raises(NotFound):
            load_state(conn, 999)


def test_duplicate_key_in_one_batch_is_a_conflict(db: Database, cat: Catalogue, now: dt.datetime) -> None:
    f = check_row(row(), cat, now)
    with db.engine.begin() as conn, pytest.raises(Conflict, match="twice in one batch"):
        file_batch(conn, [f, f], cat, "test", now)
    with db.engine.connect() as conn:
        assert count(conn, record_events) == 0


def test_sequence_numbers_follow_commit_order(db: Database, cat: Catalogue, now: dt.datetime) -> None:
    for i in range(3):
        with db.engine.begin() as conn:
            file(conn, cat, now, external_id=f"S{i}", subject_id=person_id(i))
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(record_events.c.seq, record_events.c.record_id).order_by(record_events.c.seq)
        ).all()
        assert [tuple(r) for r in rows] == [(1, 1), (2, 2), (3, 3)]


def test_the_write_lock_is_taken_once_per_transaction_and_again_in_the_next(db: Database) -> None:
    """PostgreSQL: a writer asks for the advisory lock once per transaction (each ask is a round trip); a later
    transaction on the same pooled connection takes it again, and while it holds it no other writer can."""
    from socialcredit.registry.writer import _LOCK_KEY, write_lock

    if db.dialect != "postgresql":
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE")
    probe = f"SELECT pg_try_advisory_xact_lock({_LOCK_KEY})"
    with db.engine.connect() as conn, db.engine.connect() as other:
        for _ in range(2):  # two transactions, one DBAPI connection
            with conn.begin():
                write_lock(conn)
                write_lock(conn)  # no second ask, still held
                with other.begin():
                    assert other.exec_driver_sql(probe).scalar() is False
            with other.begin():  # released at the end of each transaction
                assert other.exec_driver_sql(probe).scalar() is True
