"""The feed: the pull feed and its cursor, webhook signatures, the dispatcher against a real HTTP receiver
(receiver away and back, a crash between send and status update), watchlists and monitors."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from factories import org_id, person_id
from feed_receiver import Receiver
from process_helpers import file, food_row, snapshot
from socialcredit.catalogue import Catalogue
from socialcredit.feed import (
    Dispatcher,
    DispatchSettings,
    FeedInvalid,
    Replayed,
    ReplayGuard,
    SignatureError,
    WatchlistInvalid,
    create_subscription,
    create_watchlist,
    get_subscription,
    list_deliveries,
    parse_cursor,
    parse_members,
    read_after,
    redeliver,
    run_monitor,
    sign,
    upload_members,
    verify_signature,
)
from socialcredit.process import decide_repair, fulfil, request_repair
from socialcredit.registry import revoke
from socialcredit.store import Database
from socialcredit.store.tables import deliveries

FAST = DispatchSettings(
    max_attempts=60, backoff_base=0.01, backoff_max=0.05, timeout=0.5, poll_interval=0.005, lease=1.0
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def _file_many(db: Database, catalogue: Catalogue, now: dt.datetime, n: int, start: int = 0) -> list[int]:
    return [
        file(db, catalogue, now, external_id=f"E-{i}", subject_id=person_id(100 + i))
        for i in range(start, start + n)
    ]


def _drain(d: Dispatcher, until: float = 10.0) -> None:
    """Rounds until nothing is pending (or ``until`` seconds pass)."""
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        d.run_once()
        with d.engine.connect() as conn:
            if (
                conn.execute(select(deliveries.c.id).where(deliveries.c.status == "pending").limit(1)).first()
                is None
            ):
                return
        time.sleep(0.005)
    raise AssertionError("deliveries still pending")


# -- pull feed ----------------------------------------------------------------------------------------------


def test_feed_is_ordered_and_resumable(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    ids = _file_many(db, catalogue, now, 5)
    with db.engine.begin() as conn:
        revoke(conn, ids[0], "wrong person", "reg", now)
    with db.engine.connect() as conn:
        first = read_after(conn, 0, limit=4)
        rest = read_after(conn, first.next_cursor, limit=100)
        empty = read_after(conn, rest.next_cursor)
    events = first.events + rest.events
    assert [e.type for e in events] == ["filed"] * 5 + ["revoked"]
    assert [e.seq for e in events] == sorted(e.seq for e in events) and len({e.event_id for e in events}) == 6
    assert events[-1].as_json()["record_id"] == ids[0] and events[-1].as_json()["status"] == "revoked"
    assert empty.events == [] and empty.next_cursor == rest.next_cursor == rest.head


def test_filtered_feed_advances_past_skipped_rows(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    _file_many(db, catalogue, now, 4)
    want = person_id(102)
    with db.engine.connect() as conn:
        page = read_after(conn, 0, keep=lambda e: want in e.subject_ids)
    assert [e.subject_ids for e in page.events] == [(want,)] and page.next_cursor == page.head


def test_bad_cursor_and_limit_are_named() -> None:
    with pytest.raises(FeedInvalid, match="after"):
        parse_cursor("abc")
    with pytest.raises(FeedInvalid, match="after"):
        parse_cursor("-1")
    assert parse_cursor(None) == 0 and parse_cursor("12") == 12


# -- signatures ---------------------------------------------------------------------------------------------


def test_signature_verifies_and_refuses_tampering_age_and_replays() -> None:
    body = b'{"event_id": 7, "type": "filed"}'
    header = sign("s3cret", body, 1_000_000)
    assert verify_signature("s3cret", header, body, 1_000_010) == 1_000_000
    with pytest.raises(SignatureError, match="matches"):
        verify_signature("s3cret", header, body + b" ", 1_000_010)
    with pytest.raises(SignatureError, match="matches"):
        verify_signature("other", header, body, 1_000_010)
    with pytest.raises(SignatureError, match="more than 300 s"):
        verify_signature("s3cret", header, body, 1_000_301)
    for bad in (None, "garbage", "t=x,v1=00", "v1=00"):
        with pytest.raises(SignatureError):
            verify_signature("s3cret", bad, body, 1_000_000)
    guard = ReplayGuard()
    verify_signature("s3cret", header, body, 1_000_000, guard=guard)
    again = sign("s3cret", body, 1_000_005)  # the same event re-sent later (a retry) is a duplicate
    with pytest.raises(Replayed, match="event 7"):
        verify_signature("s3cret", again, body, 1_000_005, guard=guard)


# -- dispatcher ---------------------------------------------------------------------------------------------


def test_webhook_delivers_every_event_signed(
    db: Database, catalogue: Catalogue, now: dt.datetime, receiver: Receiver
) -> None:
    with db.engine.begin() as conn:
        sub = create_subscription(conn, "key1", receiver.url, now)
    receiver.secret = sub["secret"]
    ids = _file_many(db, catalogue, now, 3)
    with db.engine.begin() as conn:
        fulfil(conn, catalogue, ids[1], "paid", "reg", now)
    d = Dispatcher(db.engine, FAST)
    _drain(d)
    d.close()
    assert [e["type"] for e in receiver.events] == ["filed", "filed", "filed", "fulfilled"]
    assert receiver.refused == [] and receiver.duplicates == []
    with db.engine.connect() as conn:
        info = get_subscription(conn, sub["id"], "key1")
    assert info["deliveries"] == {"pending": 0, "delivered": 4, "dead": 0}


def test_receiver_away_for_a_while_gets_everything_when_back(
    db: Database, catalogue: Catalogue, now: dt.datetime, receiver: Receiver
) -> None:
    with db.engine.begin() as conn:
        sub = create_subscription(conn, "key1", receiver.url, now)
    receiver.secret = sub["secret"]
    _file_many(db, catalogue, now, 2)
    d = Dispatcher(db.engine, FAST)
    _drain(d)
    receiver.stop()  # connection refused from here on
    _file_many(db, catalogue, now, 5, start=2)
    # Until a delivery has been retried (at most 10 s: a loaded machine makes each run slow, not wrong).
    deadline = time.monotonic() + 10
    while True:
        d.run_once()
        time.sleep(0.01)
        with db.engine.connect() as conn:
            failing = list_deliveries(conn, sub["id"], "key1", status="pending")
        if any(f["attempts"] > 1 for f in failing) or time.monotonic() > deadline:
            break
    assert len(failing) == 5 and any(f["attempts"] > 1 and f["last_error"] for f in failing)
    receiver.status = 503  # back, but answering errors for a while
    receiver.start()
    for _ in range(5):
        d.run_once()
        time.sleep(0.01)
    receiver.status = 200
    _drain(d)
    d.close()
    with db.engine.connect() as conn:
        expected = [e.event_id for e in read_after(conn, 0).events]
    assert sorted(set(receiver.ids())) == expected
    assert len(receiver.ids()) == len(expected)  # nothing twice either: no delivery was half done


def test_crash_between_send_and_status_update_loses_nothing(
    db: Database, catalogue: Catalogue, now: dt.datetime, receiver: Receiver
) -> None:
    with db.engine.begin() as conn:
        sub = create_subscription(conn, "key1", receiver.url, now)
    receiver.secret = sub["secret"]
    _file_many(db, catalogue, now, 6)

    class Crash(BaseException):
        pass

    class Crashing(Dispatcher):
        sent = 0

        def _mark_delivered(self, delivery_id: int, status: int | None) -> None:
            Crashing.sent += 1
            if Crashing.sent == 3:
                raise Crash  # killed after the receiver has the 3rd event, before its status is written
            super()._mark_delivered(delivery_id, status)

    crashing = Crashing(db.engine, FAST)
    with pytest.raises(Crash):
        crashing.run_once()
    crashing.close()
    restarted = Dispatcher(db.engine, FAST)
    _drain(restarted)
    restarted.close()
    with db.engine.connect() as conn:
        expected = [e.event_id for e in read_after(conn, 0).events]
    assert sorted(set(receiver.ids()) | set(receiver.duplicates)) == expected
    assert receiver.duplicates == [expected[2]]  # the one in flight: sent again, same event id


def test_dead_letter_after_the_bound_and_redeliver(
    db: Database, catalogue: Catalogue, now: dt.datetime, receiver: Receiver
) -> None:
    with db.engine.begin() as conn:
        sub = create_subscription(conn, "key1", receiver.url, now)
    receiver.secret = sub["secret"]
    receiver.status = 500
    _file_many(db, catalogue, now, 1)
    d = Dispatcher(db.engine, DispatchSettings(max_attempts=3, backoff_base=0.001, backoff_max=0.001))
    for _ in range(10):
        d.run_once()
        time.sleep(0.005)
    with db.engine.connect() as conn:
        (dead,) = list_deliveries(conn, sub["id"], "key1", status="dead")
    assert dead["attempts"] == 3 and dead["last_status"] == 500 and dead["dead_at"]
    receiver.status = 200
    with db.engine.begin() as conn:
        assert redeliver(conn, sub["id"], "key1", dt.datetime.now(dt.UTC)) == 1
    _drain(d)
    d.close()
    assert len(receiver.ids()) == 1


def test_watchlist_subscription_gets_only_its_members(
    db: Database, catalogue: Catalogue, now: dt.datetime, receiver: Receiver
) -> None:
    rep = person_id(7)
    with db.engine.begin() as conn:
        wl = create_watchlist(conn, "bank", "customers", now)
        upload_members(conn, wl["id"], "bank", [person_id(101), rep])
        sub = create_subscription(conn, "bank", receiver.url, now, watchlist_id=wl["id"])
    receiver.secret = sub["secret"]
    _file_many(db, catalogue, now, 3)  # 100, 101, 102: only 101 is watched
    # An organisation's record reaches its legal representative, who is watched.
    file(
        db, catalogue, now, external_id="ORG-1", subject_id=org_id(5), subject_name="某公司",
        legal_representative_id=rep, legal_representative_name="赵六",
    )  # fmt: skip
    d = Dispatcher(db.engine, FAST)
    _drain(d)
    d.close()
    got = sorted((e["subject_id"], tuple(x["subject_id"] for x in e["linked"])) for e in receiver.events)
    assert got == sorted([(person_id(101), ()), (org_id(5), (rep,))])


def test_bad_subscription_and_watchlist_input_change_nothing(db: Database, now: dt.datetime) -> None:
    with db.engine.begin() as conn:
        wl = create_watchlist(conn, "bank", "customers", now)
    with db.engine.connect() as conn:
        before = snapshot(conn)
    for step, exc, match in [
        (lambda c: create_subscription(c, "bank", "ftp://x", now), FeedInvalid, "url"),
        (lambda c: create_subscription(c, "bank", "http://h/", now, types=["no such"]), FeedInvalid, "types"),
        (
            lambda c: create_subscription(c, "other", "http://h/", now, watchlist_id=wl["id"]),
            LookupError,
            "no watch",
        ),
        (lambda c: create_watchlist(c, "bank", " ", now), FeedInvalid, "name"),
    ]:
        with pytest.raises(exc, match=match), db.engine.begin() as conn:
            step(conn)
    with pytest.raises(WatchlistInvalid, match="line 2") as err:
        good = person_id(1)
        wrong_check = good[:-1] + ("1" if good[-1] == "0" else "0")
        parse_members([good, wrong_check, "", "# comment", "bad"])
    assert [n for n, _, _ in err.value.errors] == [2, 5]
    with db.engine.connect() as conn:
        assert snapshot(conn) == before


# -- monitor ------------------------------------------------------------------------------------------------


def test_monitor_reports_new_and_lifted_hits(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    ids = _file_many(db, catalogue, now, 3)
    with db.engine.begin() as conn:
        wl = create_watchlist(conn, "bank", "customers", now)
        upload_members(conn, wl["id"], "bank", parse_members([person_id(100), person_id(101), person_id(21)]))
    first = run_monitor(db.engine, wl["id"], "bank", now)
    assert {h.record_id for h in first.new} == {ids[0], ids[1]} and first.lifted == []
    food = file(db, catalogue, now, _row=food_row(decided_on="2025-06-01"))  # notice: applies in 5 days
    with db.engine.begin() as conn:
        fulfil(conn, catalogue, ids[0], "paid", "reg", now)
        req = request_repair(conn, catalogue, food, "done", "commit", "k", now)
    second = run_monitor(db.engine, wl["id"], "bank", now + dt.timedelta(hours=1))
    assert second.new == [] and [h.record_id for h in second.lifted] == [ids[0]]
    third = run_monitor(db.engine, wl["id"], "bank", now + dt.timedelta(days=6))
    assert [h.record_id for h in third.new] == [food]
    with db.engine.begin() as conn:
        decide_repair(conn, req["id"], True, "ok", "reg", now + dt.timedelta(days=6))
    fourth = run_monitor(db.engine, wl["id"], "bank", now + dt.timedelta(days=7))
    assert [h.record_id for h in fourth.lifted] == [food] and fourth.previous_run_id == third.run_id
    with pytest.raises(LookupError):
        run_monitor(db.engine, wl["id"], "someone-else", now)


def test_dispatcher_loop_sweeps_expired_records(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    from process_helpers import flight_row
    from socialcredit.registry import load_state

    old = file(db, catalogue, now, _row=flight_row(decided_on="2025-06-01", effective_until="2026-05-31"))
    d = Dispatcher(db.engine, DispatchSettings(poll_interval=0.005, expire_interval=0.01))
    stop = threading.Event()
    t = threading.Thread(target=d.run, args=(stop,))
    t.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with db.engine.connect() as conn:
                if load_state(conn, old).status == "expired":
                    break
            time.sleep(0.01)
    finally:
        stop.set()
        t.join(10)
        d.close()
    with db.engine.connect() as conn:
        assert load_state(conn, old).status == "expired"
        assert [e.type for e in read_after(conn, 0).events] == ["filed", "expired"]
