"""``audit sink``: the nodes' audit stream into the database, in batches, each written once.

A durable pull consumer on ``<prefix>.>`` of the node audit stream fetches up to ``batch`` messages (each holding
many entries, :mod:`.audit`); their entries and signed heads are inserted in one transaction, ignoring rows already
stored (key ``(node_id, seq, at)``; heads by signature), and the messages are acknowledged only after the commit.
A sink killed between the commit and the acks has its messages redelivered after ``ack_wait``: they write nothing
twice. Several sinks may share the consumer.

On PostgreSQL ``node_audit`` is partitioned by month of ``at``: before writing, the sink creates the partitions
its rows need, and at start the current and next month's, so the month turning over never waits on DDL.
A message that is not a node audit message (not JSON lines of entries of the node its subject names) is logged
and terminated, never written: ``audit verify`` then reports the entries it should have held as missing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, OperationalError

from ..store.tables import node_audit, node_audit_heads
from .audit import STREAM, SUBJECT_PREFIX
from .chain import NODE_ID, NodeEntry, parse_lines

__all__ = ["DURABLE", "AuditSink", "SinkBatch", "ensure_partitions", "read_message", "write_batch"]

log = logging.getLogger("socialcredit.node.sink")
DURABLE = "audit-sink"


@dataclass(frozen=True, slots=True)
class SinkBatch:
    messages: int
    entries: int
    heads: int


def _month(at: dt.datetime) -> dt.date:
    return dt.date(at.year, at.month, 1)


def _next_month(d: dt.date) -> dt.date:
    return dt.date(d.year + d.month // 12, d.month % 12 + 1, 1)


def ensure_partitions(engine: Engine, months: set[dt.date], known: set[dt.date]) -> None:
    """Create ``node_audit``'s partition for each month not yet in ``known`` (PostgreSQL only)."""
    if engine.dialect.name != "postgresql":
        return
    for m in sorted(months - known):
        name = f"node_audit_p{m:%Y_%m}"
        ddl = (
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF node_audit"
            f" FOR VALUES FROM ('{m.isoformat()}') TO ('{_next_month(m).isoformat()}')"
        )
        try:
            with engine.begin() as conn:
                conn.execute(text(ddl))
        except DBAPIError:  # another sink created it at the same instant: it exists, which is what we want
            with engine.connect() as conn:
                if conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() is None:
                    raise
        known.add(m)


def _insert(conn: Connection, table: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return pg_insert(table).on_conflict_do_nothing()
    return sqlite_insert(table).on_conflict_do_nothing()


def write_batch(
    conn: Connection, entries: list[NodeEntry], heads: list[tuple[str, str]], now: dt.datetime
) -> None:
    """Insert entries and ``(node, head line)`` pairs on ``conn``, skipping any already stored."""
    if entries:
        conn.execute(_insert(conn, node_audit), [e.row() for e in entries])
    if heads:
        rows = [
            {
                "node_id": node,
                "sig": str(json.loads(line).get("sig", ""))[:128],
                "line": line,
                "received_at": now,
            }
            for node, line in heads
        ]
        conn.execute(_insert(conn, node_audit_heads), rows)


def read_message(prefix: str, subject: str, data: bytes) -> tuple[list[NodeEntry], tuple[str, str] | None]:
    """A node audit message's entries, or its head ``(node, line)``; ``ValueError`` naming what is wrong (the
    sink's reading, and ``audit verify --from-nats``'s)."""
    parts = subject[len(prefix) + 1 :].split(".")
    if len(parts) != 2 or parts[0] not in ("entries", "heads") or not NODE_ID.fullmatch(parts[1]):
        raise ValueError(f"subject {subject!r} is not {prefix}.entries|heads.<node>")
    kind, node = parts
    if kind == "heads":
        return [], (node, data.decode("utf-8"))
    entries = parse_lines(data)
    for e in entries:
        if e.node != node:
            raise ValueError(f"entry {e.seq} names node {e.node!r} on node {node!r}'s subject")
    return entries, None


class AuditSink:
    """One sink process's consumer: :meth:`step` fetches, writes and acknowledges one batch."""

    def __init__(
        self,
        engine: Engine,
        nats_url: str,
        *,
        stream: str = STREAM,
        subject_prefix: str = SUBJECT_PREFIX,
        durable: str = DURABLE,
        batch: int = 200,
        ack_wait: float = 30.0,
        fetch_timeout: float = 1.0,
    ) -> None:
        self.engine, self.nats_url, self.stream, self.prefix = engine, nats_url, stream, subject_prefix
        self.durable, self.batch, self.ack_wait, self.fetch_timeout = durable, batch, ack_wait, fetch_timeout
        self._nc: Any = None
        self._sub: Any = None
        self._months: set[dt.date] = set()

    async def connect(self) -> None:
        import nats
        from nats.js.api import ConsumerConfig, StreamConfig
        from nats.js.errors import NotFoundError

        # Bounded: with unlimited reconnects, nats-py retries a first connection for ever too.
        self._nc = await asyncio.wait_for(
            nats.connect(self.nats_url, connect_timeout=5, max_reconnect_attempts=-1), timeout=10
        )
        js = self._nc.jetstream(timeout=10)
        try:
            await js.stream_info(self.stream)
        except NotFoundError:  # the sink may start before any node: make the stream the nodes publish to
            await js.add_stream(StreamConfig(name=self.stream, subjects=[f"{self.prefix}.>"]))
        self._sub = await js.pull_subscribe(
            f"{self.prefix}.>",
            durable=self.durable,
            stream=self.stream,
            config=ConsumerConfig(ack_wait=self.ack_wait, max_ack_pending=self.batch * 20),
        )
        now = dt.datetime.now(dt.UTC)
        ensure_partitions(self.engine, {_month(now), _next_month(_month(now))}, self._months)

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = None

    def _read(self, msg: Any) -> tuple[list[NodeEntry], tuple[str, str] | None]:
        return read_message(self.prefix, msg.subject, msg.data)

    async def step(self, *, ack: bool = True) -> SinkBatch:
        """Fetch up to ``batch`` messages, write them in one transaction, then acknowledge them (``ack=False``
        leaves them unacknowledged, as a sink killed after its commit would: for tests)."""
        import nats.errors

        try:
            msgs = await self._sub.fetch(self.batch, timeout=self.fetch_timeout)
        except (nats.errors.TimeoutError, TimeoutError):  # nothing to fetch (nats-py raises either)
            return SinkBatch(0, 0, 0)
        entries: list[NodeEntry] = []
        heads: list[tuple[str, str]] = []
        good: list[Any] = []
        for msg in msgs:
            try:
                got, head = self._read(msg)
            except (ValueError, UnicodeDecodeError) as exc:
                seq = getattr(getattr(msg, "metadata", None), "sequence", None)
                log.error("node audit message %s on %s refused, not written: %s", seq, msg.subject, exc)
                await msg.term()
                continue
            entries += got
            if head is not None:
                heads.append(head)
            good.append(msg)
        now = dt.datetime.now(dt.UTC)
        ensure_partitions(self.engine, {_month(e.at) for e in entries}, self._months)
        with self.engine.begin() as conn:
            write_batch(conn, entries, heads, now)
        if ack:
            await asyncio.gather(*(m.ack() for m in good))
        return SinkBatch(len(good), len(entries), len(heads))

    async def run(self, *, idle_exit: float | None = None, stop: asyncio.Event | None = None) -> SinkBatch:
        """Consume until ``stop`` is set, or until ``idle_exit`` seconds pass with nothing to consume."""
        total = SinkBatch(0, 0, 0)
        idle_since = asyncio.get_running_loop().time()
        while stop is None or not stop.is_set():
            try:
                got = await self.step()
            except OperationalError as exc:  # the database went away: unacknowledged, so redelivered later
                log.error(
                    "audit sink: writing to the database failed (%s); retrying", str(exc).splitlines()[0]
                )
                await asyncio.sleep(1.0)
                continue
            total = SinkBatch(
                total.messages + got.messages, total.entries + got.entries, total.heads + got.heads
            )
            now = asyncio.get_running_loop().time()
            if got.messages:
                idle_since = now
            elif idle_exit is not None and now - idle_since >= idle_exit:
                break
        return total
