"""The registry: filing checks, the append-only event log, the projection, bitemporal reads, revocation.

Filing checks are pure (``check_row``); everything that stores runs on the ``db`` fixture (both databases).
The test catalogue is the shipped one plus a few categories that exercise each end rule.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, func, select

from factories import category, org_id, person_id, row
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
from socialcredit.registry.bulk import sqlite_dt
from socialcredit.registry.copybinary import decode_fields
from socialcredit.registry.prepared import prepare, record_values
from socialcredit.registry.writer import _state, event_payload, feed_payload
from socialcredit.store import Database
from socialcredit.store.tables import outbox, record_events, records, subjects


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    from socialcredit.catalogue import load_catalogue

    base = load_catalogue()
    extra = {
        "test.fixed": category("test.fixed", duration_days=365, max_duration_days=730),
        "test.orgs": category("test.orgs", subject_kinds=("organisation",), duration_days=365),
        "test.open": category("test.open", ends_by_fulfilment=True),
        "test.no_end": category("test.no_end"),
        "test.red": category("test.red", list="red", duration_days=365),
        "test.notice": category("test.notice", duration_days=365, notice_days=10, takes_effect_at_once=False),
    }
    return dataclasses.replace(base, categories={**base.categories, **extra})


def errors_of(r: dict[str, Any], cat: Catalogue, now: dt.datetime) -> list[tuple[str, str]]:
    with pytest.raises(RowInvalid) as exc:
        check_row(r, cat, now)
    return [(e.field, e.reason) for e in exc.value.errors]


def samr(**overrides: Any) -> dict[str, Any]:
    return row(**{"authority": "samr", "category": "test.fixed", **overrides})


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


def test_state_text_leaves_out_null_keys_and_reads_the_older_form(cat: Catalogue, now: dt.datetime) -> None:
    """A stored state has no key whose value is null and no empty ``suspensions``; an absent key reads back as
    none, and a state stored in the earlier form (every key written, nulls included) reads back the same."""
    person = _state(check_row(samr(), cat, now), 5, now, cat)
    body = json.loads(person.to_json())
    absent = {"actual_controller_id", "actual_controller_name", "legal_representative_id"}
    absent |= {"legal_representative_name", "ended_at", "suspensions"}
    assert absent.isdisjoint(body) and None not in body.values()
    assert RecordState.from_json(person.to_json()) == person
    older = {k: getattr(person, k) for k in absent if k != "suspensions"}
    earlier_form = json.dumps({**body, **older, "suspensions": []}, ensure_ascii=False, sort_keys=True)
    assert RecordState.from_json(earlier_form) == person
    f = check_row(
        samr(subject_id=org_id(2), legal_representative_id=person_id(3), legal_representative_name="李四"),
        cat,
        now,
    )
    ended = _state(f, 6, now, cat).with_(
        status="revoked", ended_at=now, suspensions=((now, None),), effective_until=None
    )
    body = json.loads(ended.to_json())
    assert body["legal_representative_id"] == person_id(3) and body["ended_at"] == now.isoformat()
    assert body["suspensions"] == [[now.isoformat(), None]] and "effective_until" not in body
    assert RecordState.from_json(ended.to_json()) == ended


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
        ]
        done = file_batch(conn, [check_row(r, cat, now) for r in mixed], cat, "test", now)
        assert [o.action for o in done] == ["filed"] * 5
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
        assert rebuild(conn) == 10
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


_free_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\x0b\x0c\x7f"),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() == s and not any("\x00" <= c < "\x20" and c not in "\t\n" for c in s))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    external_id=_free_text,
    name=_free_text,
    decision_no=_free_text,
    summary=st.one_of(st.none(), _free_text),
    basis=st.one_of(st.none(), _free_text),
    rep_name=st.one_of(st.none(), _free_text),
    ctl=st.booleans(),
    category=st.sampled_from(["test.fixed", "test.notice", "test.open"]),
    dialect=st.sampled_from(["sqlite", "postgresql"]),
    zone=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8))]),
)
def test_prepared_texts_equal_the_record_state_for_any_text(
    cat: Catalogue,
    now: dt.datetime,
    external_id: str,
    name: str,
    decision_no: str,
    summary: str | None,
    basis: str | None,
    rep_name: str | None,
    ctl: bool,
    category: str,
    dialect: str,
    zone: dt.tzinfo,
) -> None:
    """The import's template-built texts equal RecordState.to_json and the writer's subject list, quotes, backslashes,
    tabs, newlines, line separators and CJK included; and in any zone the import's clock is given in."""
    fields: dict[str, Any] = {
        "external_id": external_id,
        "subject_id": org_id(4),
        "subject_name": name,
        "decision_no": decision_no,
        "summary": summary,
        "legal_basis": basis,
        "legal_representative_id": person_id(5),
        "legal_representative_name": rep_name,
    }
    if ctl:
        fields.update(actual_controller_id=person_id(6), actual_controller_name=name)
    f = check_row(samr(category=category, **fields), cat, now)
    at = now.astimezone(zone)
    p = prepare(f, cat, at, dialect)
    expected = _state(f, 41, at, cat)
    # PostgreSQL's form is binary COPY's: read back as PostgreSQL reads it, it gives the same texts and values.
    if dialect == "postgresql":
        texts = [p[4].decode(), p[5].decode(), *decode_fields(p[6], [bytes.decode])]
    else:
        texts = list(p[4:7])
    assert f'{texts[0]}"id":41{texts[1]}' == expected.to_json()
    linked = [expected.subject_id, *(s for s, _ in expected.linked())]
    assert texts[2] == json.dumps(linked, ensure_ascii=False)  # the text as the writer's encoder writes it
    if dialect == "postgresql":
        values = decode_fields(p[7], _BINARY_RECORD)
        row_ = [None, *values[:19], None, *values[19:]]
    else:
        row_ = record_values(p[7])
    assert len(row_) == 24
    assert (row_[5], row_[11], row_[13], row_[15]) == (
        expected.subject_name,
        expected.summary,
        expected.legal_representative_name,
        expected.actual_controller_name,
    )
    assert (row_[8], row_[9], row_[17], row_[22]) == (
        sqlite_dt(expected.effective_from),
        sqlite_dt(expected.effective_until),
        sqlite_dt(expected.applies_from),
        sqlite_dt(at),
    )


def _binary_instant(data: bytes) -> str | None:
    """A binary timestamp field (microseconds since 2000-01-01) as the stored text SQLite's form holds."""
    micros = int.from_bytes(data, "big", signed=True)
    return sqlite_dt(dt.datetime(2000, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros))


def _binary_day(data: bytes) -> str:
    return (dt.date(2000, 1, 1) + dt.timedelta(days=int.from_bytes(data, "big", signed=True))).isoformat()


# The 22 columns of a record row but the id and version, as the binary form holds them.
_t, _d, _s = bytes.decode, _binary_day, _binary_instant
_BINARY_RECORD = (_t, _t, _t, _t, _t, _t, _d, _s, _s, _t, _t, _t, _t, _t, _t, _t, _s, _s, _t, _t, _s, _s)
