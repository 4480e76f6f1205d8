"""More than one dispatcher on one database (decision 1100): claims with a lease, the subscriptions shared out,
each subscription delivered in order by one dispatcher at a time; a dispatcher killed with SIGKILL mid-run loses
nothing (its claims are free again after the lease). Real ``dispatch run`` processes, real HTTP receivers, both
stores (the ``db`` fixture).
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from factories import person_id
from feed_receiver import Receiver
from process_helpers import file
from socialcredit.catalogue import Catalogue
from socialcredit.feed import Dispatcher, DispatchSettings, create_subscription, read_after
from socialcredit.feed.claims import claim_runs
from socialcredit.store import Database
from socialcredit.store.tables import deliveries
from test_feed_reliability import _dispatcher, _wait

FAST = DispatchSettings(backoff_base=0.01, backoff_max=0.05, timeout=0.5, poll_interval=0.005, lease=1.0)


class Concurrency:
    """Counts requests in the receivers' handlers at once: per receiver (one subscription) and overall."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[int, int] = {}
        self.most: dict[int, int] = {}
        self.total = 0
        self.most_total = 0

    def hook(self, key: int, delay: float) -> object:
        def on_event(_event: object) -> None:
            with self.lock:
                self.now[key] = self.now.get(key, 0) + 1
                self.most[key] = max(self.most.get(key, 0), self.now[key])
                self.total += 1
                self.most_total = max(self.most_total, self.total)
            time.sleep(delay)
            with self.lock:
                self.now[key] -= 1
                self.total -= 1

        return on_event


@pytest.fixture
def receivers() -> Iterator[tuple[list[Receiver], Concurrency]]:
    seen = Concurrency()
    made = [Receiver(on_event=seen.hook(i, 0.02)).start() for i in range(4)]  # type: ignore[arg-type]
    yield made, seen
    for r in made:
        r.stop()


def _subscribe(db: Database, made: list[Receiver], now: dt.datetime) -> None:
    for r in made:
        with db.engine.begin() as conn:
            r.secret = create_subscription(conn, "bank", r.url, now)["secret"]


def test_two_dispatchers_share_the_work_and_one_killed_loses_nothing(
    db: Database, catalogue: Catalogue, now: dt.datetime, receivers: tuple[list[Receiver], Concurrency]
) -> None:
    made, seen = receivers
    _subscribe(db, made, now)
    for i in range(30):
        file(db, catalogue, now, external_id=f"D-{i}", subject_id=person_id(400 + i))
    with db.engine.connect() as conn:
        expected = [e.event_id for e in read_after(conn, 0).events]
    first, second = _dispatcher(db), _dispatcher(db)
    try:
        _wait(lambda: sum(len(r.ids()) for r in made) >= 40, 60)
        first.send_signal(signal.SIGKILL)  # mid-run: it holds claims, one request likely in flight
        first.wait(10)
        assert sum(len(r.ids()) for r in made) < 4 * len(expected), "the kill came too late"
        _wait(lambda: all(len(r.ids()) == len(expected) for r in made), 60)
    finally:
        for p in (first, second):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(10)
    for r in made:
        assert r.ids() == expected  # every event, each first arrival in order
        assert set(r.duplicates) <= set(expected) and len(r.duplicates) <= 1  # the one in flight at the kill
    assert seen.most_total >= 2  # two dispatchers delivered at the same time ...
    assert max(seen.most.values()) == 1  # ... never two requests to one subscription at once
    with db.engine.connect() as conn:
        left = conn.execute(select(deliveries.c.status, deliveries.c.claimed_by)).all()
    assert {s for s, _ in left} == {"delivered"} and {c for _, c in left} == {None}


def test_a_claim_is_the_head_of_a_subscription_and_its_run(
    db: Database, catalogue: Catalogue, now: dt.datetime, receivers: tuple[list[Receiver], Concurrency]
) -> None:
    made, _ = receivers
    _subscribe(db, made[:2], now)
    for i in range(5):
        file(db, catalogue, now, external_id=f"H-{i}", subject_id=person_id(500 + i))
    Dispatcher(db.engine, FAST).enqueue()
    t = dt.datetime.now(dt.UTC)
    with db.engine.begin() as conn:
        a = claim_runs(conn, "a", t, 10.0, heads=1, run=3)
    with db.engine.begin() as conn:
        b = claim_runs(conn, "b", t, 10.0, heads=10, run=10)
    with db.engine.begin() as conn:
        c = claim_runs(conn, "c", t, 10.0, heads=10, run=10)
    assert [len(r) for r in a] == [3] and [len(r) for r in b] == [5] and c == []
    with db.engine.connect() as conn:
        sub_of = dict(conn.execute(select(deliveries.c.id, deliveries.c.subscription_id)).all())
    assert sub_of[a[0][0]] != sub_of[b[0][0]]  # b could not take a's subscription, not even its rest
    with db.engine.begin() as conn:  # past the lease: a's claim is anyone's, head first
        late = claim_runs(conn, "c", t + dt.timedelta(seconds=11), 10.0, heads=10, run=10)
    assert sorted(len(r) for r in late) == [5, 5] and late[0][0] == min(late[0])


def test_a_failing_head_holds_back_the_rest_of_its_subscription(
    db: Database, catalogue: Catalogue, now: dt.datetime, receivers: tuple[list[Receiver], Concurrency]
) -> None:
    made, _ = receivers
    _subscribe(db, made[:1], now)
    for i in range(3):
        file(db, catalogue, now, external_id=f"F-{i}", subject_id=person_id(600 + i))
    made[0].status = 500
    d = Dispatcher(db.engine, DispatchSettings(backoff_base=30, backoff_max=30, timeout=0.5))
    d.run_once()
    with db.engine.begin() as conn:  # the head is failing; the others are due, yet not claimable
        assert (
            conn.execute(select(deliveries.c.claimed_by).where(deliveries.c.claimed_by.is_not(None))).all()
            == []
        )
        conn.execute(update(deliveries).where(deliveries.c.attempts == 0).values(next_attempt_at=now))
        assert claim_runs(conn, "x", dt.datetime.now(dt.UTC), 10.0, heads=10, run=10) == []
    made[0].status = 200
    with db.engine.begin() as conn:  # the head's next attempt comes: it goes first, the run behind it
        conn.execute(update(deliveries).values(next_attempt_at=now))
    d.run_once()
    d.close()
    assert len(made[0].ids()) == 3 and made[0].ids() == sorted(made[0].ids())
