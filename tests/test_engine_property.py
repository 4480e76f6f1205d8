"""Property: for random registries, events and instants, the index answers exactly as the slow reference.

Each example files records of random default categories for a few subjects, then amends, revokes, repairs,
fulfils and suspends them at random times. A checker built before the events and refreshed as they happen,
and one built fresh at the end, must agree with the reference (straight from the event table) at random
instants and at every boundary instant, and the store path must agree at random knowledge times.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from factories import org_id, person_id, row
from socialcredit.catalogue import Catalogue, covers
from socialcredit.engine import Checker, Decisions
from socialcredit.registry import Conflict, RowInvalid, apply_event, check_row, file_batch, revoke
from socialcredit.store import Database
from socialcredit.store.tables import outbox, record_events, records, subjects
from test_engine_support import reference_from, states_known_at, subjects_known_at

US = dt.timedelta(microseconds=1)
BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ORGS = [org_id(n) for n in (1, 2, 3)]
PERSONS = [person_id(n) for n in (11, 12, 13, 14)]


def _clear(db: Database) -> None:
    with db.engine.begin() as conn:
        for table in (outbox, record_events, records, subjects):
            conn.execute(delete(table))


def _actions(catalogue: Catalogue) -> list[str]:
    """Actions some measure reaches, their parents and children, and two fixed ones."""
    patterns = {p for memo in catalogue.memoranda.values() for m in memo.measures for p in m.actions}
    near = sorted(a for a in catalogue.actions if any(covers(p, a) or covers(a, p) for p in patterns))
    return near or sorted(catalogue.actions)


def _file_row(
    data: Any, catalogue: Catalogue, key: int, category: str, org: bool, at: dt.datetime, subject: str
) -> dict[str, Any]:
    cat = catalogue.categories[category]
    today = at.date()
    decided = today - dt.timedelta(days=data.draw(st.integers(0, 400), label="decided ago"))
    start = decided + dt.timedelta(days=data.draw(st.integers(0, 20), label="start after"))
    fields: dict[str, Any] = {
        "external_id": f"K{key}",
        "authority": cat.authorities[0],
        "category": category,
        "subject_id": subject,
        "subject_name": "名",
        "decided_on": decided.isoformat(),
        "effective_from": start.isoformat(),
    }
    cap = cat.max_duration_days or cat.duration_days
    if cap and data.draw(st.booleans(), label="explicit end"):
        days = data.draw(st.integers(1, min(cap, 800)), label="days")
        fields["effective_until"] = (start + dt.timedelta(days=days - 1)).isoformat()
    if org:
        if data.draw(st.booleans(), label="has rep"):
            fields["legal_representative_id"] = data.draw(st.sampled_from(PERSONS), label="rep")
            fields["legal_representative_name"] = "法人"
        if data.draw(st.booleans(), label="has controller"):
            fields["actual_controller_id"] = data.draw(st.sampled_from(PERSONS), label="controller")
            fields["actual_controller_name"] = "控制人"
    return row(**fields)


def _run_events(
    db: Database,
    catalogue: Catalogue,
    data: Any,
    early: Checker,
    refreshed: Callable[[dt.datetime], None] = lambda at: None,
) -> list[dt.datetime]:
    """Apply random events; return the instants they were recorded at. ``refreshed(at)`` runs after each
    refresh of ``early`` (its index then reflects every event recorded at or before ``at``)."""
    categories = sorted(catalogue.categories)
    keys: dict[int, tuple[str, bool, str]] = {}
    ids: dict[int, int] = {}
    at = BASE
    times: list[dt.datetime] = []
    for _ in range(data.draw(st.integers(1, 8), label="events")):
        at += dt.timedelta(seconds=data.draw(st.integers(1, 86_400 * 60), label="gap"))
        op = data.draw(st.sampled_from(["file", "file", "amend", "revoke", "end", "suspend"]), label="op")
        key = data.draw(st.integers(0, 3), label="key")
        try:
            with db.engine.begin() as conn:
                if op in ("file", "amend"):
                    if key not in keys:
                        category = data.draw(st.sampled_from(categories), label="category")
                        kinds = catalogue.categories[category].subject_kinds
                        org = "organisation" in kinds and ("person" not in kinds or data.draw(st.booleans()))
                        subject = data.draw(st.sampled_from(ORGS if org else PERSONS), label="subject")
                        keys[key] = (category, org, subject)
                    category, org, subject = keys[key]
                    filing = check_row(
                        _file_row(data, catalogue, key, category, org, at, subject), catalogue, at
                    )
                    (outcome,) = file_batch(conn, [filing], catalogue, "prop", at)
                    ids[key] = outcome.record_id
                elif key not in ids:
                    continue
                elif op == "revoke":
                    revoke(conn, ids[key], "prop", "prop", at)
                elif op == "end":
                    status = data.draw(st.sampled_from(["repaired", "fulfilled"]), label="status")
                    ended = at + dt.timedelta(days=data.draw(st.integers(-30, 30), label="ended shift"))
                    apply_event(
                        conn,
                        ids[key],
                        status,
                        lambda s, st_=status, e=ended: s.with_(status=st_, ended_at=e),
                        "prop",
                        at,
                    )
                else:
                    a = at + dt.timedelta(days=data.draw(st.integers(-30, 30), label="suspend from"))
                    b = (
                        None
                        if data.draw(st.booleans(), label="open")
                        else a + dt.timedelta(days=data.draw(st.integers(1, 60), label="suspend days"))
                    )
                    apply_event(
                        conn,
                        ids[key],
                        "suspended",
                        lambda s, p=(a, b): s.with_(suspensions=(*s.suspensions, p)),
                        "prop",
                        at,
                    )
        except (Conflict, RowInvalid):
            continue
        times.append(at)
        if data.draw(st.booleans(), label="refresh now"):
            early.refresh()
            refreshed(at)
    return times


def _boundaries(db: Database) -> list[dt.datetime]:
    out: set[dt.datetime] = set()
    for s in states_known_at(db.engine):
        for t in (s.applies_from, s.valid_until, *(x for p in s.suspensions for x in p)):
            if t is not None:
                out.update((t - US, t))
    return sorted(out)


def _assert_batch(
    batch: Decisions, wants: list[dict[str, Any]], queries: list[tuple[str, str]], as_of: dt.datetime
) -> None:
    """The batch's columns, then its decisions (built in a random-ish order), equal the reference."""
    assert batch.allowed == [w["allowed"] for w in wants], as_of
    assert batch.effects == [tuple(w["effects"]) for w in wants], as_of
    assert batch.known == [w["known"] for w in wants], as_of
    assert batch.subjects == [w["subject"] for w in wants]
    assert batch.actions == [w["action"] for w in wants]
    order = list(range(len(wants)))[1::2] + list(range(len(wants)))[::2]
    for i in order:
        body = batch[i].to_dict()
        del body["as_of"]
        assert body == wants[i], (queries[i], as_of)
    assert all(d is batch[i] and d.as_of == as_of for i, d in enumerate(batch))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_index_matches_reference(db: Database, catalogue: Catalogue, data: Any) -> None:
    _clear(db)
    early = Checker(db.engine, catalogue, history=None)
    actions = _actions(catalogue)
    people = ORGS + PERSONS
    # Batches taken from the early checker mid-way, read only at the end: each must still answer for what
    # the registry knew when it was taken, though the index has been refreshed since.
    taken: list[tuple[dt.datetime, dt.datetime, list[tuple[str, str]], Decisions]] = []

    def take(at: dt.datetime) -> None:
        if data.draw(st.booleans(), label="take a batch"):
            as_of = BASE + dt.timedelta(days=data.draw(st.integers(-400, 1500), label="batch day"))
            queries = [(s, data.draw(st.sampled_from(actions), label="batch action")) for s in people]
            taken.append((at, as_of, queries, early.check_many(queries, as_of=as_of)))

    times = _run_events(db, catalogue, data, early, take)
    early.refresh()
    fresh = Checker(db.engine, catalogue, history=None)
    assert early.index.dump() == fresh.index.dump()
    assert early.last_seq == fresh.last_seq
    chosen = data.draw(
        st.lists(st.sampled_from(actions), min_size=1, max_size=4, unique=True), label="actions"
    )
    instants = _boundaries(db) + [
        BASE + dt.timedelta(days=data.draw(st.integers(-400, 1500), label="day")) for _ in range(3)
    ]
    states, known = states_known_at(db.engine), subjects_known_at(db.engine)
    for as_of in instants:
        queries = [(s, a) for s in people for a in chosen]
        batch = fresh.check_many(queries, as_of=as_of)
        wants = [reference_from(states, known, catalogue, s, a, as_of) for s, a in queries]
        _assert_batch(batch, wants, queries, as_of)
        for (s, a), want in zip(queries, wants, strict=True):
            body = early.check(s, a, as_of=as_of).to_dict()
            del body["as_of"]
            assert body == want, (s, a, as_of)
    for at, as_of, queries, batch in taken:
        states_then, known_then = states_known_at(db.engine, at), subjects_known_at(db.engine, at)
        wants = [reference_from(states_then, known_then, catalogue, s, a, as_of) for s, a in queries]
        _assert_batch(batch, wants, queries, as_of)
    # Knowledge time: the store path answers what the registry knew then.
    for known_at in [*times[:3], BASE - US]:
        states_then, known_then = states_known_at(db.engine, known_at), subjects_known_at(db.engine, known_at)
        as_of = data.draw(st.sampled_from(instants), label="as_of for known_at")
        for s in people:
            a = chosen[0]
            body = fresh.check(s, a, as_of=as_of, known_at=known_at).to_dict()
            del body["as_of"]
            assert body == reference_from(states_then, known_then, catalogue, s, a, as_of), (s, a, known_at)
