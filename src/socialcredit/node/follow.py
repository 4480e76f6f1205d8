"""Following the feed on NATS JetStream: a durable pull consumer per node, events applied in sequence order
(decision 1102).

The node's position is its index's ``last_seq`` (the snapshot's, then each applied event's), not the
consumer's: on every start and re-sync the follower finds, by a binary search over the stream, the first
message whose event seq is after ``last_seq``. Its durable consumer is resumed where it stands when the next
message it delivers is that one or a later one with no record event between (a restart on a snapshot at the
seq it had reached: nothing replayed, nothing skipped), else deleted and re-created there (decision 1120).
Starting early is harmless (an event at or before ``last_seq`` is a duplicate and changes nothing); starting
late is caught as a gap. So:

* event ``last_seq + 1``: applied; an event at or before ``last_seq`` (a replay, a republish): skipped;
* an event after ``last_seq + 1`` (a message lost from the stream, or a snapshot older than what the stream
  keeps), or a message that claims the next seq but does not read (an unknown event type, a bad body): the
  node is not ready and re-syncs, from the snapshot file if it now holds a newer snapshot, else from the
  store; then it positions itself again and is ready once caught up;
* a message that is not a record event (``grade:...`` ids: grade.changed): skipped, logged once per subject.

Lag: ``lag_events`` is what JetStream says is left for the consumer after the last message fetched;
``caught_up_at`` is when nothing was left. NATS unreachable: no fetch succeeds, the lag in seconds grows and
/readyz fails past ``node_max_lag_seconds``, while checks go on from the index as it stands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from pathlib import Path
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from ..engine import Checker
from ..feed.nats import STREAM, SUBJECT_PREFIX
from .live import LiveIndex
from .messages import NotARecordEvent, RecordUpdate, Unreadable, read_message
from .snapshot import SnapshotRefused, load_snapshot, read_header
from .state import FETCH_WAIT, NodeState

__all__ = ["Follower", "durable_name"]

log = logging.getLogger("socialcredit.node")
_SCAN = 1000  # messages that are not record events stepped over per probe of the binary search


def durable_name(name: str) -> str:
    """A JetStream consumer name from a node's name (no dots, wildcards or spaces)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "node"


def _why(exc: Exception, stream: str) -> str:
    if isinstance(exc, NotFoundError):
        return f"stream {stream} not found: `dispatch run` with SOCIALCREDIT_NATS_URL set creates it"
    return f"{type(exc).__name__}: {exc}"


class _Gap(Exception):
    """The next event cannot be applied: re-sync."""


class Follower:
    def __init__(
        self,
        state: NodeState,
        url: str,
        *,
        snapshot: Path | None = None,
        stream: str = STREAM,
        prefix: str = SUBJECT_PREFIX,
        batch: int = 256,
    ) -> None:
        self.state, self.url, self.snapshot = state, url, snapshot
        self.stream, self.prefix, self.batch = stream, prefix, batch
        self.durable = durable_name(state.name)
        self._nc: Any = None
        self._js: Any = None
        self._need_resync: str | None = None
        self._fruitless = 0  # re-syncs in a row after which nothing could be applied (a lagging store)
        self._progress = True  # whether anything was applied or caught up since the last re-sync
        self._told: set[str] = set()  # subjects of non-record messages already logged

    # -- the loop ------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow until cancelled; every failure is logged and retried, none ends the loop."""
        backoff = 0.2
        while True:
            try:
                if self._need_resync is not None:
                    if (
                        self._fruitless
                    ):  # the last re-sync did not get past the gap: the store lags the stream
                        await asyncio.sleep(min(0.5 * 2 ** (self._fruitless - 1), 30.0))
                    await self._resync(self._need_resync)
                    self._need_resync = None
                await self._connect()
                sub = await self._position()
                self.state.set_unsynced(None)
                backoff = 0.2
                await self._follow(sub)
            except _Gap as gap:
                self._fruitless = 0 if self._progress else self._fruitless + 1
                self._progress = False
                self._need_resync = str(gap)
                self.state.set_unsynced(f"re-syncing: {gap}")
                log.warning("node %s: %s; re-syncing", self.state.name, gap)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._need_resync is not None:
                    self.state.set_unsynced(f"re-sync failed ({exc}); retrying after: {self._need_resync}")
                elif self.state.unsynced is not None:  # never positioned yet: say why in /readyz
                    self.state.set_unsynced(f"not yet following the stream ({_why(exc, self.stream)})")
                log.warning(
                    "node %s: following %s failed (%s); retrying",
                    self.state.name,
                    self.url,
                    _why(exc, self.stream),
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()
        self._nc = None

    async def _connect(self) -> None:
        if self._nc is not None and self._nc.is_connected:
            return
        await self.close()
        # A few reconnects, then the client gives up and this loop connects and positions itself again (it
        # would anyway): so an unreachable server is an error /readyz can name, not a connect that never ends.
        self._nc = await nats.connect(
            self.url,
            connect_timeout=2,
            max_reconnect_attempts=3,
            reconnect_time_wait=0.5,
            error_cb=self._nats_error,
        )
        self._js = self._nc.jetstream(timeout=5)

    async def _nats_error(self, exc: Exception) -> None:
        # The client's own reports (each failed attempt): this loop logs the outcome once per retry.
        log.debug("node %s: nats: %s", self.state.name, exc)

    # -- where to start ------------------------------------------------------------------------------------

    async def _event_at_or_after(self, seq: int) -> tuple[int, int] | None:
        """(event seq, stream seq) of the first record event at stream seq ``seq`` or later (None: none)."""
        for _ in range(_SCAN):
            try:
                msg = await self._js.get_msg(self.stream, seq=seq, subject=f"{self.prefix}.>", next=True)
            except NotFoundError:
                return None
            msg_id = (msg.headers or {}).get("Nats-Msg-Id", "")
            if msg_id.isdigit():
                return int(msg_id), int(msg.seq)
            seq = int(msg.seq) + 1
        return None  # positioning late is caught as a gap, never applied past

    async def _start_after(self, last: int) -> tuple[int, int]:
        """The first stream seq whose next record event is after ``last``, and the stream's last seq."""
        info = await self._js.stream_info(self.stream)
        st = info.state
        if not st.messages:
            return int(st.last_seq) + 1, int(st.last_seq)
        lo, hi = int(st.first_seq), int(st.last_seq) + 1
        while lo < hi:
            mid = (lo + hi) // 2
            found = await self._event_at_or_after(mid)
            if found is None or found[0] > last:
                hi = mid
            else:
                lo = mid + 1
        return lo, int(st.last_seq)

    async def _resumable(self, start: int, stream_last: int) -> int | None:
        """Where the existing durable consumer delivers next, if resuming it there neither replays an event at or
        before ``last_seq`` (it is at ``start`` or later) nor skips one after it (no record event between
        ``start`` and there); None: there is none, it is configured otherwise, or it has messages delivered but
        not acknowledged (a node stopped mid-batch: JetStream would send those again only after ``ack_wait``,
        behind newer ones)."""
        try:
            info = await self._js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            return None
        cfg = info.config
        if (
            cfg.filter_subject != f"{self.prefix}.>"
            or cfg.ack_policy != AckPolicy.ALL
            or info.num_ack_pending
        ):
            return None
        at = int(info.delivered.stream_seq) + 1
        if not start <= at <= stream_last + 1:
            return None
        first = await self._event_at_or_after(start)
        return at if first is None or at <= first[1] else None

    async def _position(self) -> Any:
        last = self.state.live.last_seq
        start, stream_last = await self._start_after(last)
        resumed = await self._resumable(start, stream_last)
        if resumed is None:
            with contextlib.suppress(NotFoundError):
                await self._js.delete_consumer(self.stream, self.durable)
        config = ConsumerConfig(  # used only when the consumer is (re)created
            durable_name=self.durable,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_policy=AckPolicy.ALL,  # the last message of each batch acknowledges the batch
            filter_subject=f"{self.prefix}.>",
            max_ack_pending=self.batch * 4,
        )
        sub = await self._js.pull_subscribe(
            f"{self.prefix}.>", durable=self.durable, stream=self.stream, config=config
        )
        info = await sub.consumer_info()
        self.state.lag_events = int(info.num_pending)
        if not info.num_pending:
            self.state.caught_up_at = time.monotonic()
        how = "created" if resumed is None else "resumed"
        self.state.metrics.positions.labels(how).inc()
        log.info(
            "node %s: following %s from stream message %d (after event %d, %d pending; durable consumer %s %s)",
            self.state.name,
            self.stream,
            start if resumed is None else resumed,
            last,
            info.num_pending,
            self.durable,
            how,
        )
        return sub

    # -- applying ------------------------------------------------------------------------------------------

    async def _follow(self, sub: Any) -> None:
        state = self.state
        while True:
            try:
                msgs = await sub.fetch(self.batch, timeout=FETCH_WAIT)
            except TimeoutError:  # nats' own (a subclass), or the bare one some paths of fetch raise
                msgs = []
            # Nothing new within the wait (an empty batch is the server's "no messages"): caught up.
            if not msgs:
                if not self._nc.is_connected:  # unless the wait was the connection's: the lag must grow
                    raise ConnectionError(f"connection to {self.url} lost")
                self._progress = True
                state.lag_events, state.caught_up_at = 0, time.monotonic()
                state.readiness()
                continue
            changes: dict[str, Any] = {}
            live = state.live
            try:  # no await from here to the flush: no check sees the dict and the table apart
                for msg in msgs:
                    self._handle(msg, changes)
            finally:
                live.flush(changes)
            last = msgs[-1]
            await last.ack()
            state.lag_events = int(last.metadata.num_pending)
            if state.lag_events == 0:
                state.caught_up_at = time.monotonic()
            state.readiness()

    def _handle(self, msg: Any, changes: dict[str, Any]) -> None:
        state, live = self.state, self.state.live
        read = read_message((msg.headers or {}).get("Nats-Msg-Id"), msg.subject, msg.data)
        count = state.metrics.events.labels
        if isinstance(read, NotARecordEvent):
            count("not_a_record_event").inc()
            if msg.subject not in self._told:
                self._told.add(msg.subject)
                log.info(
                    "node %s: skipping messages on %s (id %r): not record events (logged once per subject)",
                    state.name,
                    msg.subject,
                    read.msg_id,
                )
            return
        if read.seq <= live.last_seq:
            count("duplicate").inc()
            return
        if isinstance(read, Unreadable):
            count("unreadable").inc()
            log.error("node %s: event %d not applied: %s", state.name, read.seq, read.reason)
            raise _Gap(f"event {read.seq} does not read ({read.reason})")
        assert isinstance(read, RecordUpdate)
        if read.seq != live.last_seq + 1:
            raise _Gap(
                f"events {live.last_seq + 1} to {read.seq - 1} are not in the stream (message "
                f"{msg.metadata.sequence.stream} holds event {read.seq}): a message lost, or an index older "
                "than what the stream keeps"
            )
        live.apply(read, changes)
        self._progress = True
        count("applied").inc()

    # -- re-syncing ----------------------------------------------------------------------------------------

    async def _resync(self, reason: str) -> None:
        state = self.state
        have = state.live.last_seq
        live = await asyncio.to_thread(self._newer_snapshot, have)
        source = "snapshot"
        if live is None:
            source = "store"
            live = await asyncio.to_thread(self._from_store)
        state.live = live
        state.metrics.resyncs.labels(source).inc()
        log.warning(
            "node %s: re-synced from %s (was at event %d) after: %s", state.name, live.source, have, reason
        )

    def _newer_snapshot(self, have: int) -> LiveIndex | None:
        if self.snapshot is None:
            return None
        state = self.state
        try:
            if read_header(self.snapshot).seq <= have:
                return None
            loaded = load_snapshot(self.snapshot, state.catalogue)
        except SnapshotRefused as exc:
            log.warning("node %s: snapshot not used for the re-sync: %s", state.name, exc)
            return None
        return LiveIndex.of(
            state.db.engine,
            state.catalogue,
            loaded.index,
            loaded.seq,
            f"snapshot {self.snapshot} (seq {loaded.seq})",
        )

    def _from_store(self) -> LiveIndex:
        checker = Checker(self.state.db.engine, self.state.catalogue)
        return LiveIndex(checker, f"the store (seq {checker.last_seq})")
