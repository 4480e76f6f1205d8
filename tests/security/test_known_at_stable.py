"""What the registry knew stays what it knew (issue 15 §5, decision 0002).

The defect pinned: ``recorded_at`` was the instant a request began, not one read under the writers' lock, so
under concurrent writers events were recorded out of sequence order, and the count of events recorded at or
before an instant already past grew later (a writer that began before it committed after it). An auditor's
"as known at T" answer changed after T.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from factories import person_id, row
from socialcredit.catalogue import Catalogue
from socialcredit.registry import check_row, file_batch, import_file, revoke
from socialcredit.store.clock import settle
from socialcredit.store.database import Database
from socialcredit.store.tables import record_events

WRITERS = 8
WRITES = 12  # each writer's least; it goes on until the reader has its samples (at most WRITES_MAX)
WRITES_MAX = 150
SAMPLES = 15


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _writer(
    db: Database,
    catalogue: Catalogue,
    n: int,
    tmp: Path,
    failures: list[BaseException],
    stop: threading.Event,
) -> None:
    """Files, revokes or imports, each change's clock read when its "request" begins (before the lock), and
    holds the lock a little while, as a slow request does."""
    rnd = random.Random(n)
    mine: list[int] = []
    try:
        for i in range(WRITES_MAX):
            if i >= WRITES and stop.is_set():
                break
            began = _now()  # the request's instant, taken before it waits for the lock
            if n == 0 and i % 4 == 0:  # one writer imports files: the fast path stamps rows too
                path = tmp / f"w{n}-{i}.jsonl"
                rows = [row(external_id=f"imp-{i}-{k}", subject_id=person_id(100 + k)) for k in range(30)]
                path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
                report = import_file(db.engine, path, catalogue, "test", workers=0)
                assert report.committed, report.errors
                continue
            with db.engine.begin() as conn:
                if mine and rnd.random() < 0.3:
                    revoke(conn, mine.pop(), "test", "test", began)
                else:
                    data = row(external_id=f"w{n}-{i}", subject_id=person_id(n * 50 + i))
                    (o,) = file_batch(conn, [check_row(data, catalogue, began)], catalogue, "test", began)
                    mine.append(o.record_id)
                time.sleep(rnd.uniform(0, 0.004))  # the lock is held until the commit, after the stamp
            time.sleep(rnd.uniform(0, 0.004))  # between requests: SQLite's busy readers get their turn
    except BaseException as exc:  # reported by the test's thread
        failures.append(exc)


def _count(db: Database, at: dt.datetime) -> int:
    """Events recorded at or before ``at``, read as a known_at answer reads (settled first)."""
    with db.engine.connect() as conn:
        settle(conn, at)
        q = select(func.count()).select_from(record_events).where(record_events.c.recorded_at <= at)
        return int(conn.execute(q).scalar_one())


def test_recorded_at_follows_sequence_and_past_counts_never_change(
    db: Database, catalogue: Catalogue, tmp_path: Path
) -> None:
    failures: list[BaseException] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=_writer, args=(db, catalogue, n, tmp_path, failures, stop))
        for n in range(WRITERS)
    ]
    for t in threads:
        t.start()
    seen: list[tuple[dt.datetime, int]] = []
    rnd = random.Random(0)
    while len(seen) < SAMPLES and any(t.is_alive() for t in threads):  # every sample while writers write
        at = _now() - dt.timedelta(milliseconds=rnd.uniform(0, 20))  # an instant already past
        seen.append((at, _count(db, at)))
        time.sleep(0.003)
    stop.set()
    for t in threads:
        t.join()
    assert not failures, failures
    assert len(seen) == SAMPLES

    with db.engine.connect() as conn:
        stamps = list(
            conn.execute(select(record_events.c.recorded_at).order_by(record_events.c.seq)).scalars()
        )
    assert len(stamps) >= WRITERS * WRITES
    backwards = [i for i in range(1, len(stamps)) if stamps[i] < stamps[i - 1]]
    assert not backwards, f"{len(backwards)} events recorded before the event ahead of them in sequence"

    changed = [(at, then, now) for at, then in seen if (now := _count(db, at)) != then]
    assert not changed, f"{len(changed)} answers 'as known at T' changed after T, e.g. {changed[:3]}"
