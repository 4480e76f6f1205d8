"""Reliability against real processes and servers: the dispatcher killed (SIGKILL) mid-delivery and
restarted loses nothing; events reach NATS JetStream with their event id as ``Nats-Msg-Id`` (deduplicated).

NATS: the real server at ``SOCIALCREDIT_NATS_URL`` (default nats://127.0.0.1:4222); skipped when unreachable,
except in CI (``CI=true``), where a missing server fails the test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from factories import person_id
from feed_receiver import Receiver
from nats_server import NATS_URL, require_nats
from process_helpers import file
from socialcredit.catalogue import Catalogue
from socialcredit.feed import create_subscription, read_after
from socialcredit.feed.nats import NatsPublisher
from socialcredit.store import Database
from socialcredit.store.tables import feed_cursors

CLI = [str(Path(sys.executable).parent / "socialcredit")]


def _dispatcher(db: Database, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SOCIALCREDIT_DATABASE_URL": str(db.engine.url.render_as_string(hide_password=False)),
    }
    env.pop("SOCIALCREDIT_NATS_URL", None)
    args = ["dispatch", "run", "--poll", "0.005", "--backoff", "0.01", "--backoff-max", "0.05", "--no-expire"]
    # A short lease: the killed dispatcher's claims are free again within a second (decision 1100).
    args += ["--timeout", "0.5", "--lease", "1", *extra]
    return subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait(cond: object, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise AssertionError("timed out")


def test_dispatcher_killed_mid_delivery_and_restarted_loses_nothing(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    receiver = Receiver(on_event=lambda _e: time.sleep(0.02)).start()  # slow: the kill lands mid-request
    try:
        with db.engine.begin() as conn:
            sub = create_subscription(conn, "bank", receiver.url, now)
        receiver.secret = sub["secret"]
        for i in range(40):
            file(db, catalogue, now, external_id=f"K-{i}", subject_id=person_id(200 + i))
        first = _dispatcher(db)
        try:
            _wait(lambda: len(receiver.ids()) >= 10, 30)
            first.send_signal(signal.SIGKILL)
        finally:
            first.wait(10)
        got_before = len(receiver.ids())
        assert got_before < 40, "the kill came too late to interrupt anything"
        second = _dispatcher(db)
        try:
            _wait(lambda: len(set(receiver.ids())) == 40, 30)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(10)
        with db.engine.connect() as conn:
            expected = [e.event_id for e in read_after(conn, 0).events]
        assert sorted(set(receiver.ids())) == expected
        assert set(receiver.duplicates) <= set(expected) and len(receiver.duplicates) <= 1
    finally:
        receiver.stop()


@pytest.fixture
def nats_stream() -> Iterator[tuple[str, str]]:
    require_nats()
    tag = secrets.token_hex(4)
    stream, prefix = f"SCTEST_{tag}", f"sctest.{tag}"
    yield stream, prefix

    async def drop() -> None:
        import nats

        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().delete_stream(stream)
        finally:
            await nc.close()

    asyncio.run(drop())


def test_events_reach_nats_jetstream_once_each(
    db: Database, catalogue: Catalogue, now: dt.datetime, nats_stream: tuple[str, str]
) -> None:
    stream, prefix = nats_stream
    for i in range(3):
        file(db, catalogue, now, external_id=f"N-{i}", subject_id=person_id(300 + i))
    pub = NatsPublisher(NATS_URL, stream=stream, prefix=prefix)
    try:
        assert pub.publish_pending(db.engine) == 3
        assert pub.publish_pending(db.engine) == 0
        with db.engine.begin() as conn:  # as if the cursor had not been saved before a crash
            conn.execute(feed_cursors.delete())
        # The stream's last message, not the lost cursor, says where to resume: nothing is sent twice (1104).
        assert pub.publish_pending(db.engine) == 0
    finally:
        pub.close()
    with db.engine.connect() as conn:
        expected = [str(e.event_id) for e in read_after(conn, 0).events]

    async def fetch() -> tuple[int, list[str], list[str]]:
        import nats

        nc = await nats.connect(NATS_URL)
        try:
            js = nc.jetstream()
            info = await js.stream_info(stream)
            psub = await js.pull_subscribe(f"{prefix}.>", durable=None, stream=stream)
            msgs = await psub.fetch(10, timeout=2)
            ids = [m.headers["Nats-Msg-Id"] for m in msgs if m.headers]
            for m in msgs:
                await m.ack()
            return info.state.messages, ids, [m.subject for m in msgs]
        finally:
            await nc.close()

    count, ids, subjects = asyncio.run(fetch())
    assert count == 3 and ids == expected
    assert subjects == [f"{prefix}.filed"] * 3
    with db.engine.connect() as conn:
        assert conn.execute(select(feed_cursors.c.seq)).scalar_one() == 3


def test_a_stream_that_lost_acknowledged_messages_is_refilled_from_its_tail(
    db: Database, catalogue: Catalogue, now: dt.datetime, nats_stream: tuple[str, str]
) -> None:
    """NATS acknowledged events 4 and 5 and then lost them (a crash before they reached its disk): the saved
    cursor says 5, the stream ends at 3; the publisher resumes at the stream's tail (decision 1104)."""
    stream, prefix = nats_stream
    for i in range(3):
        file(db, catalogue, now, external_id=f"L-{i}", subject_id=person_id(310 + i))
    pub = NatsPublisher(NATS_URL, stream=stream, prefix=prefix)
    try:
        assert pub.publish_pending(db.engine) == 3
        for i in range(3, 5):
            file(db, catalogue, now, external_id=f"L-{i}", subject_id=person_id(310 + i))
        with db.engine.begin() as conn:
            conn.execute(update(feed_cursors).values(seq=5))
        assert pub.publish_pending(db.engine) == 2
        assert pub.publish_pending(db.engine) == 0
    finally:
        pub.close()

    async def ids() -> list[str]:
        import nats

        nc = await nats.connect(NATS_URL)
        try:
            js = nc.jetstream()
            return [(await js.get_msg(stream, seq)).headers["Nats-Msg-Id"] for seq in range(1, 6)]
        finally:
            await nc.close()

    with db.engine.connect() as conn:
        expected = [str(e.event_id) for e in read_after(conn, 0).events]
    assert asyncio.run(ids()) == expected
