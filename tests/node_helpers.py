"""Check nodes in tests: a uniquely named stream on the real NATS server, a node app over a snapshot (its
lifespan runs the follower in the TestClient's loop) auditing to an audit stream of its own, publishing the
outbox, and polling until a condition holds (the only waiting the node tests do)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nats_server import NATS_URL, require_nats
from node_audit_helpers import Stream, drop_stream
from socialcredit.catalogue import Catalogue
from socialcredit.feed.nats import NatsPublisher, message_body
from socialcredit.feed.reader import EVENT_COLUMNS, with_event
from socialcredit.node import create_snapshot
from socialcredit.node.audit import NodeAuditLog
from socialcredit.node.serve import node_app
from socialcredit.node.state import NodeState
from socialcredit.settings import Settings
from socialcredit.store import Database
from socialcredit.store.tables import outbox


@dataclass
class Node:
    client: TestClient
    state: NodeState
    audit_stream: Stream  # where its audit chain goes (sink it with node_audit_helpers.sink_all)

    @property
    def audit(self) -> NodeAuditLog:
        log = self.state.audit
        assert isinstance(log, NodeAuditLog)
        return log

    def ready(self) -> bool:
        return self.client.get("/readyz").status_code == 200

    def metric(self, name: str) -> float:
        """The sum of a metric's samples whose line starts with ``name`` (labels included in ``name``)."""
        total = 0.0
        for line in self.client.get("/metrics").text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total


def until(cond: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def js(fn: Callable[[Any], Any]) -> Any:
    """Run ``await fn(jetstream)`` on a connection of its own."""

    async def run() -> Any:
        import nats

        nc = await nats.connect(NATS_URL)
        try:
            return await fn(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(run())


def unique_stream() -> Iterator[tuple[str, str]]:
    """Body of a ``nats_stream`` fixture: (stream, subject prefix), unique to the test, with a short
    duplicate window (so a test can replay a message JetStream would otherwise drop); deleted after."""
    require_nats()
    from nats.js.api import StreamConfig

    tag = uuid.uuid4().hex[:10]
    stream, prefix = f"NODETEST_{tag}", f"nodetest.{tag}"
    js(lambda j: j.add_stream(StreamConfig(name=stream, subjects=[f"{prefix}.>"], duplicate_window=0.1)))
    yield stream, prefix
    with contextlib.suppress(Exception):
        js(lambda j: j.delete_stream(stream))


@pytest.fixture
def nats_stream() -> Iterator[tuple[str, str]]:
    """(stream, subject prefix) of a feed stream of the test's own (import it into a test module to use it)."""
    yield from unique_stream()


def snapshot_of(db: Database, catalogue: Catalogue, path: Path) -> Path:
    """A snapshot of the store as it stands, written to ``path``."""
    create_snapshot(db.engine, catalogue, path)
    return path


def publish(db: Database, stream: str, prefix: str) -> int:
    """Publish the outbox as ``dispatch run`` does; how many rows."""
    pub = NatsPublisher(NATS_URL, stream=stream, prefix=prefix)
    try:
        return pub.publish_pending(db.engine)
    finally:
        pub.close()


def publish_raw(subject: str, body: bytes, msg_id: str | None) -> int:
    """One message as given, stored even if JetStream saw its id within the duplicate window (published
    again until it is past the window, 100 ms); its stream sequence."""
    headers = {"Nats-Msg-Id": msg_id} if msg_id is not None else None
    ack = until(
        lambda: (a := js(lambda j: j.publish(subject, body, headers=headers))) and not a.duplicate and a,
        f"{subject} to be stored",
    )
    return int(ack.seq)


def body_of_event(db: Database, event_seq: int) -> tuple[str, bytes]:
    """(type, message body) of the outbox row of ``event_seq``, as the publisher would send it."""
    with db.engine.connect() as conn:
        r = conn.execute(
            with_event(select(outbox.c.seq, outbox.c.event_seq, outbox.c.type, *EVENT_COLUMNS)).where(
                outbox.c.event_seq == event_seq
            )
        ).one()
    return r.type, message_body(r)


@contextlib.contextmanager
def running_node(
    db: Database,
    catalogue: Catalogue,
    snapshot: Path,
    tmp_path: Path,
    stream_prefix: tuple[str, str] | None,
    *,
    url: str = NATS_URL,
    audit_url: str = NATS_URL,
    name: str = "node-a",
    node_id: str | None = None,
    **settings: Any,
) -> Iterator[Node]:
    """A node on ``snapshot`` following ``stream_prefix`` on ``url`` (None: no feed), its audit chain (node id
    ``name-<random>``, or ``node_id`` as given: a restart of the same node, its durable consumer and chain;
    files in ``tmp_path/node-audit``) on a stream of its own on ``audit_url`` (deleted after, on the shared
    server)."""
    stream, prefix = stream_prefix or ("SOCIALCREDIT", "socialcredit.events")
    tag = uuid.uuid4().hex[:10]
    audit = Stream(audit_url, f"NODETEST_AUDIT_{tag}", f"nodetest.audit.{tag}")
    config = Settings(
        database_url=str(db.engine.url.render_as_string(hide_password=False)),
        node_key_refresh_seconds=0.2,
        node_audit_stream=audit.name,
        node_audit_subject_prefix=audit.prefix,
        node_audit_dir=str(tmp_path / "node-audit"),
        nats_stream=stream,  # the node reads its feed from the settings, as `node serve` does by default
        nats_subject_prefix=prefix,
        **settings,
    )
    app = node_app(
        snapshot,
        url if stream_prefix is not None else None,
        name=node_id or f"{name}-{tag[:6]}",
        db=db,
        catalogue=catalogue,
        settings=config,
        audit_nats=audit_url,
    )
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Node(client, app.state.sc, audit)
    finally:
        if (
            audit_url == NATS_URL
        ):  # on the shared server; a private one's goes with its test (and can be sunk)
            with contextlib.suppress(Exception):
                drop_stream(audit.url, audit.name)


@contextlib.contextmanager
def ready_node(
    db: Database, catalogue: Catalogue, tmp_path: Path, stream_prefix: tuple[str, str] | None, **kw: Any
) -> Iterator[Node]:
    """:func:`running_node` on a snapshot of the store as it stands (``tmp_path/index.snap``), once ready."""
    snap = snapshot_of(db, catalogue, tmp_path / "index.snap")
    with running_node(db, catalogue, snap, tmp_path, stream_prefix, **kw) as node:
        until(node.ready, "the node to be ready")
        yield node
