"""grade.changed in the feed (decision 1011): made by the Grader after its cause, only where a letter moves, with
old and new grade and its cause; delivered signed by webhooks, published to NATS, the same bytes every time."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from factories import org_id, person_id, row
from feed_receiver import Receiver
from socialcredit.catalogue import Catalogue
from socialcredit.feed import Dispatcher, DispatchSettings, ReplayGuard, create_subscription, read_after
from socialcredit.feed.grades import GRADE_CHANGED, Grader
from socialcredit.process import decide_repair, request_repair
from socialcredit.registry import RecordState, check_row, file_batch, revoke
from socialcredit.store import Database
from socialcredit.store.tables import deliveries, outbox
from test_engine_support import file

ORG = org_id(61)
FAST = DispatchSettings(
    max_attempts=60, backoff_base=0.01, backoff_max=0.05, timeout=0.5, poll_interval=0.005, lease=1.0
)


def _org(db: Database, catalogue: Catalogue, now: dt.datetime, ext: str, **kw: str) -> RecordState:
    return file(
        db.engine,
        catalogue,
        now,
        **{"subject_id": ORG, "subject_name": "公司61", "external_id": ext, "decided_on": "2026-11-01"} | kw,
    )


def _grades(db: Database, model: str = "public_credit") -> list[dict[str, object]]:
    with db.engine.connect() as conn:
        page = read_after(conn, 0, limit=1000)
    return [json.loads(e.payload) for e in page.events if e.type == GRADE_CHANGED and model in e.payload]


def test_a_black_list_record_on_an_organisation_makes_one_grade_change(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    st = _org(db, catalogue, now, "c-1")
    assert Grader(catalogue).run_until_idle(db.engine) >= 1
    (ev,) = _grades(db)
    assert ev["old_grade"] == "良" and ev["new_grade"] != "良"
    assert ev["subject_id"] == ORG and ev["model"] == "public_credit" and ev["type"] == GRADE_CHANGED
    cause = ev["cause"]
    assert isinstance(cause, dict)
    assert cause["record_id"] == st.id and cause["type"] == "filed" and cause["authority"] == "court"
    assert ev["event_id"] == f"grade:{cause['event_id']}:public_credit"
    assert ev["legal_basis"] and ev["rule"]
    # In the outbox right after its cause, and the whole feed in order.
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.seq, outbox.c.type, outbox.c.event_seq).order_by(outbox.c.seq)
        ).all()
    assert rows[0].type == "filed" and {r.type for r in rows[1:]} == {GRADE_CHANGED}
    assert all(r.event_seq == rows[0].event_seq for r in rows)
    # Graded again: nothing new (the cursor), and the same ids could not be stored twice anyway.
    assert Grader(catalogue).run_until_idle(db.engine) == 0


def test_a_record_that_does_not_move_the_letter_makes_none_and_a_revocation_moves_it_back(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    _org(db, catalogue, now, "c-1")  # 1000 - 200 = 800: 良 -> 中
    Grader(catalogue).run_until_idle(db.engine)
    (first,) = _grades(db)
    _org(db, catalogue, now, "t-1", authority="sta", category="tax.a_grade")  # + 60 = 860: still 中
    Grader(catalogue).run_until_idle(db.engine)
    assert _grades(db) == [first]
    rid = first["cause"]["record_id"]  # type: ignore[index]
    with db.engine.begin() as conn:
        revoke(conn, rid, "filed on the wrong company", "court", now + dt.timedelta(days=1))
    Grader(catalogue).run_until_idle(db.engine)
    assert len(_grades(db)) == 2
    last = _grades(db)[-1]  # 1060: 中 -> 优, because of the revocation
    assert last["cause"]["type"] == "revoked" and last["cause"]["record_id"] == rid  # type: ignore[index]
    assert (last["old_grade"], last["new_grade"]) == ("中", "优")
    assert last["old_score"] == 860 and last["new_score"] == 1060


def test_a_second_record_in_the_same_band_makes_no_event(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    _org(db, catalogue, now, "c-1")
    Grader(catalogue).run_until_idle(db.engine)
    before = _grades(db)
    _org(db, catalogue, now, "c-2")  # 800 -> 600 is 中 -> 差: moves; a third one stays 差
    _org(db, catalogue, now, "c-3")
    Grader(catalogue).run_until_idle(db.engine)
    after = _grades(db)
    assert len(after) == len(before) + 1 and after[-1]["old_grade"] == before[-1]["new_grade"]


def test_a_repair_names_its_cause(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    st = _org(db, catalogue, now, "fd-1", authority="samr", category="food_drug.serious_violation")
    later = now + dt.timedelta(days=400)
    with db.engine.begin() as conn:
        rq = request_repair(conn, catalogue, st.id, "rectified", "no repeat", "org", later)
        decide_repair(conn, rq["id"], True, "checked", "samr", later)
    Grader(catalogue).run_until_idle(db.engine)
    # Filed with 5 days' notice, it weighed nothing at its filing instant: no event then (a notice ending is a
    # date, not an event; decision 1011). Repaired, it stops weighing: the event names the repair.
    (ev,) = _grades(db)
    assert ev["cause"]["type"] == "repaired" and ev["cause"]["record_id"] == st.id  # type: ignore[index]
    assert ev["new_grade"] == "良" and ev["old_grade"] != "良"


def test_a_person_under_a_punitive_model_never_gets_one(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    file(db.engine, catalogue, now, subject_id=person_id(61), subject_name="王芳")
    assert not any(m.reward_only for m in catalogue.models.values())
    assert Grader(catalogue).run_until_idle(db.engine) == 0
    with db.engine.connect() as conn:
        types = set(conn.execute(select(outbox.c.type)).scalars())
    assert types == {"filed"}


class Raw(Receiver):
    """A receiver that verifies as every test receiver does and keeps each accepted body's bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []

    def handle(self, header: str | None, body: bytes) -> int:
        code = super().handle(header, body)
        if code == 200:
            with self.lock:
                self.bodies.append(body)
        return code


@pytest.fixture
def receiver() -> Iterator[Raw]:
    r = Raw().start()
    yield r
    r.stop()


def _rounds(d: Dispatcher, receiver: Raw, n: int) -> None:
    deadline = time.monotonic() + 10
    while len(receiver.bodies) < n and time.monotonic() < deadline:
        d.run_once()
        time.sleep(0.01)
    d.close()


def test_webhook_delivers_it_signed_and_the_same_bytes_every_time(
    db: Database, catalogue: Catalogue, now: dt.datetime, receiver: Raw
) -> None:
    with db.engine.begin() as conn:
        sub = create_subscription(conn, "cli", receiver.url, now, types=[GRADE_CHANGED])
    receiver.secret = sub["secret"]
    _org(db, catalogue, now, "c-1")
    _rounds(Dispatcher(db.engine, FAST, grader=Grader(catalogue)), receiver, 2)
    # Signatures verified by the receiver; the two default models each move (public_credit, samr_risk).
    assert receiver.refused == [] and len(receiver.bodies) == 2, receiver.refused
    events = [json.loads(b) for b in receiver.bodies]
    assert {e["type"] for e in events} == {GRADE_CHANGED}
    assert {e["model"] for e in events} == {"public_credit", "samr_risk"}
    with db.engine.connect() as conn:
        stored = [e.payload.encode() for e in read_after(conn, 0).events if e.type == GRADE_CHANGED]
    assert receiver.bodies == stored
    # Redelivered after the catalogue's models changed: the same bytes (stored when the event was made).
    with db.engine.begin() as conn:
        conn.execute(deliveries.update().values(status="pending", attempts=0, next_attempt_at=now))
    first = list(receiver.bodies)
    receiver.bodies.clear()
    receiver.guard = ReplayGuard()
    _rounds(
        Dispatcher(db.engine, FAST, grader=Grader(dataclasses.replace(catalogue, models={}))), receiver, 2
    )
    assert receiver.bodies == first


def test_nats_publishes_it_on_its_own_subject_with_its_own_id(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    nats_mod = pytest.importorskip("nats")
    from nats_server import NATS_URL, require_nats
    from socialcredit.feed.nats import NatsPublisher

    require_nats()
    url = NATS_URL
    stream, prefix = f"GRADES_{uuid.uuid4().hex[:8]}", f"t{uuid.uuid4().hex[:8]}.events"
    _org(db, catalogue, now, "c-1")
    Grader(catalogue).run_until_idle(db.engine)
    pub = NatsPublisher(url, stream=stream, prefix=prefix)
    try:
        assert pub.publish_pending(db.engine) == 3
    finally:
        pub.close()

    import asyncio

    async def read() -> list[tuple[str, str, bytes]]:
        nc = await nats_mod.connect(url)
        js = nc.jetstream()
        try:
            sub = await js.pull_subscribe(f"{prefix}.>", durable=None, stream=stream)
            msgs = await sub.fetch(3, timeout=5)
            return [(m.subject, (m.headers or {}).get("Nats-Msg-Id", ""), m.data) for m in msgs]
        finally:
            await js.delete_stream(stream)
            await nc.close()

    msgs = asyncio.run(read())
    assert [m[0] for m in msgs] == [f"{prefix}.filed"] + [f"{prefix}.grade.changed"] * 2
    filed_id = msgs[0][1]
    assert filed_id.isdigit()
    assert {m[1] for m in msgs[1:]} == {f"grade:{filed_id}:public_credit", f"grade:{filed_id}:samr_risk"}
    assert all(json.loads(m[2])["event_id"] == m[1] for m in msgs[1:])


def test_two_records_filed_in_one_batch_at_one_instant_are_two_causes(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    rows = [
        row(external_id=f"c-{i}", subject_id=ORG, subject_name="公司61", decided_on="2026-11-01")
        for i in (1, 2)
    ]
    with db.engine.begin() as conn:
        first, second = file_batch(conn, [check_row(r, catalogue, now) for r in rows], catalogue, "test", now)
    Grader(catalogue).run_until_idle(db.engine)
    events = _grades(db)  # 1000 -> 800 -> 600: 良 -> 中 -> 差, one event each
    assert [(e["old_grade"], e["new_grade"]) for e in events] == [("良", "中"), ("中", "差")]
    assert [e["cause"]["record_id"] for e in events] == [first.record_id, second.record_id]  # type: ignore[index]


def test_two_graders_at_once_make_each_event_once(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    for i in range(30):
        _org(db, catalogue, now, f"c-{i}", subject_id=org_id(100 + i), subject_name=f"公司{i}")
    errors: list[BaseException] = []

    def grade_all() -> None:
        try:
            g = Grader(catalogue, batch=7)
            for _ in range(20):
                g.run_until_idle(db.engine)
        except BaseException as exc:  # reported below, on the test thread
            errors.append(exc)

    threads = [threading.Thread(target=grade_all) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.engine.connect() as conn:
        keys = list(conn.execute(select(outbox.c.event_key).where(outbox.c.event_key.is_not(None))).scalars())
    assert len(keys) == len(set(keys)) == 60  # two models moved on each of the 30 companies


def test_dispatch_run_makes_them_unless_told_not_to(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    from typer.testing import CliRunner

    from socialcredit.cli import app

    _org(db, catalogue, now, "c-1")
    runner = CliRunner()
    off = runner.invoke(app, ["dispatch", "run", "--once", "--no-expire", "--no-grades"])
    assert off.exit_code == 0, off.output
    assert json.loads(off.stdout)["graded"] == 0 and _grades(db) == []
    on = runner.invoke(app, ["dispatch", "run", "--once", "--no-expire"])
    assert on.exit_code == 0, on.output
    assert json.loads(on.stdout)["graded"] == 2 and len(_grades(db)) == 1
