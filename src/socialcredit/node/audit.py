"""A check node's own audit chain, shipped through NATS JetStream rather than written to the registry database.

:class:`NodeAuditLog` is what ``node serve`` hands its app as the auditor: ``start()``, ``close()`` and
``await record(entry)``, which returns the entry's sequence number in the node's chain once the entry is durable:
acknowledged by the stream, or (while the stream cannot be reached) fsynced to the node's bounded local buffer
(:mod:`.buffer`). With the buffer full it raises :class:`AuditBufferFull` (the node answers 503 with
``Retry-After``): a check is never answered unaudited.

Threading: one thread runs its own event loop and the NATS connection. ``record`` queues the entry and awaits a
future of the caller's loop; the thread takes everything queued at once, chains it (:mod:`.chain`, the registry's
hashing) and publishes it as a few large messages (one ``Nats-Msg-Id`` each, ``<node>:<first>-<last>``), then
settles each caller loop's futures with one call. Entries that arrive while a publish is in flight share the next
one, so a publish costs one round trip per batch, not per check. While the buffer holds entries, new ones are
appended behind them and the buffer drains first, so the stream receives the chain in order.

The chain resumes after a restart from ``<node>.state.json`` (the newest acknowledged entry and the newest signed
head), the buffer's last entry and the stream's last message for the node, whichever is newest. Every
``head_every`` seconds, and on close, the node signs a head (:mod:`socialcredit.anchor`, with its own Ed25519
key) of what the stream acknowledged since its last head, appends it to its heads file and publishes it on
``<prefix>.heads.<node>``, where the sink stores it for ``audit verify``. Decision 1103 has the reasoning.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import threading
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

from ..anchor import SignedHead, append_head, load_or_create_key, sign_head
from ..audit import AuditEntry, AuditUnavailable, stored_entry
from ..settings import Settings
from .buffer import Buffer
from .chain import NodeEntry, chain_entries, check_node_id, node_genesis, parse_lines

__all__ = [
    "STREAM",
    "SUBJECT_PREFIX",
    "AuditBufferFull",
    "NodeAuditError",
    "NodeAuditLog",
    "entries_subject",
    "heads_subject",
]

log = logging.getLogger("socialcredit.node.audit")
STREAM = "SOCIALCREDIT_NODE_AUDIT"
SUBJECT_PREFIX = "socialcredit.audit.nodes"
MAX_MESSAGE = 512 * 1024  # bytes per message (NATS refuses over its max_payload, 1 MiB by default)


def entries_subject(prefix: str, node: str) -> str:
    return f"{prefix}.entries.{node}"


def heads_subject(prefix: str, node: str) -> str:
    return f"{prefix}.heads.{node}"


class AuditBufferFull(AuditUnavailable):
    """The stream is unreachable and the local buffer holds ``buffer_limit`` entries: refuse the check (503,
    ``Retry-After``: the log's retry interval, when it next tries the stream)."""

    def __init__(self, node: str, limit: int, retry_after: float) -> None:
        super().__init__(
            f"node {node}: the audit stream is unreachable and the local audit buffer is full ({limit} entries);"
            " checks are refused until it drains",
            retry_after,
        )


class NodeAuditError(RuntimeError):
    """The node's chain cannot be resumed or written safely (state files disagree with the stream)."""


_Pending = tuple[AuditEntry, "asyncio.Future[int]", asyncio.AbstractEventLoop]


def _apply(pairs: list[tuple[asyncio.Future[int], int | BaseException]]) -> None:
    for fut, result in pairs:
        if fut.done():  # the caller went away (cancelled)
            continue
        if isinstance(result, BaseException):
            fut.set_exception(result)
        else:
            fut.set_result(result)


def _settle(items: list[_Pending], results: list[int | BaseException]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int], int | BaseException]]]
    by_loop = defaultdict(list)
    for (_, fut, loop), result in zip(items, results, strict=True):
        by_loop[loop].append((fut, result))
    for loop, pairs in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_apply, pairs)


class NodeAuditLog:
    """One node's audit chain: see the module docstring."""

    def __init__(
        self,
        nats_url: str,
        node_id: str,
        *,
        stream: str = STREAM,
        subject_prefix: str = SUBJECT_PREFIX,
        buffer_limit: int = 100_000,
        state_dir: Path | str = Path("var/node-audit"),
        key_file: Path | str | None = None,
        head_every: float = 60.0,
        max_batch: int = 5000,
        publish_timeout: float = 2.0,
        retry_every: float = 1.0,
        connect_timeout: float = 2.0,
    ) -> None:
        if buffer_limit < 1:
            raise ValueError(f"buffer_limit: {buffer_limit} is not a positive number of entries")
        self.nats_url, self.node = nats_url, check_node_id(node_id)
        self.stream, self.prefix = stream, subject_prefix
        self.buffer_limit, self.max_batch, self.head_every = buffer_limit, max_batch, head_every
        self.publish_timeout, self.retry_every, self.connect_timeout = (
            publish_timeout,
            retry_every,
            connect_timeout,
        )
        self.state_dir = Path(state_dir)
        self.key_file = Path(key_file) if key_file else self.state_dir / f"{self.node}.audit-key"
        self.heads_file = self.state_dir / f"{self.node}.audit-heads.jsonl"
        self._state_file = self.state_dir / f"{self.node}.state.json"
        self._subject = entries_subject(subject_prefix, self.node)
        self._pending: deque[_Pending] = deque()
        self._awake = False
        self._stopping = False
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._nc: Any = None
        self._js: Any = None
        self._retry_at = 0.0
        self._unpublished: list[SignedHead] = []
        genesis = node_genesis(self.node)
        self.seq, self.hash = 0, genesis  # the newest entry chained
        self.acked_seq, self.acked_hash = 0, genesis  # the newest the stream acknowledged
        self.signed_seq = 0  # the newest a signed head covers
        self._buffer: Buffer | None = None

    @classmethod
    def from_settings(cls, settings: Settings, nats_url: str, node_id: str) -> NodeAuditLog:
        """A node's log as configured (``SOCIALCREDIT_NODE_AUDIT_*``), for ``node serve``."""
        return cls(
            nats_url,
            node_id,
            stream=settings.node_audit_stream,
            subject_prefix=settings.node_audit_subject_prefix,
            buffer_limit=settings.node_audit_buffer_limit,
            state_dir=Path(settings.node_audit_dir),
            head_every=settings.node_audit_head_every,
        )

    # -- the caller's side ---------------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Entries in the local buffer, not yet acknowledged by the stream."""
        return self._buffer.count if self._buffer is not None else 0

    @property
    def connected(self) -> bool:
        return self._nc is not None and bool(self._nc.is_connected)

    def start(self) -> None:
        """Open the state and buffer files, connect (an unreachable stream is not an error: the buffer takes
        the entries) and resume the chain; raises what makes the chain unsafe to continue."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._main, name=f"node-audit-{self.node}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            self._thread.join()
            self._thread = None
            raise self._start_error

    async def record(self, entry: AuditEntry) -> int:
        """Chain ``entry`` and wait until it is durable; its sequence number in the node's chain."""
        loop, buffer = self._loop, self._buffer
        if loop is None or buffer is None or self._stopping:
            raise RuntimeError(f"node {self.node}: the audit log is not running (start() it first)")
        if (buffer.count or not self.connected) and buffer.count >= self.buffer_limit:
            raise AuditBufferFull(self.node, self.buffer_limit, self.retry_every)
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((stored_entry(entry), fut, asyncio.get_running_loop()))
        if not self._awake:
            self._awake = True
            loop.call_soon_threadsafe(self._poke)
        return await fut

    def close(self) -> None:
        """Write what is queued, sign a last head, and disconnect."""
        thread = self._thread
        if thread is None:
            return
        self._stopping = True
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._poke)
        thread.join(timeout=30)
        self._thread = None

    # -- the thread ----------------------------------------------------------------------------------------

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start(), or logged: the thread must not end unseen
            if not self._ready.is_set():
                self._start_error = exc
            else:
                log.exception("node audit thread failed")
        finally:
            self._ready.set()
            self._fail_pending(RuntimeError(f"node {self.node}: the audit log stopped"))
            loop.close()
            self._loop = None

    def _fail_pending(self, exc: BaseException) -> None:
        items = [self._pending.popleft() for _ in range(len(self._pending))]
        if items:
            _settle(items, [exc] * len(items))

    async def _serve(self) -> None:
        self._wake = asyncio.Event()
        self._open_files()
        await self._connect()
        await self._resume_from_stream()
        self._ready.set()
        next_head = time.monotonic() + self.head_every
        connecting: asyncio.Task[None] = asyncio.create_task(asyncio.sleep(0))
        while True:
            if not self._pending and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=min(self.retry_every, self.head_every))
            self._wake.clear()
            self._awake = False
            if self._nc is None and time.monotonic() >= self._retry_at and connecting.done():
                # In the background: the writer goes on buffering while a connection is tried.
                connecting = asyncio.create_task(self._connect())
            if self.buffered and self.connected and time.monotonic() >= self._retry_at:
                await self._drain()
            if self._pending:
                n = min(len(self._pending), self.max_batch)
                await self._write([self._pending.popleft() for _ in range(n)])
            if self._stopping and not self._pending:
                break
            if time.monotonic() >= next_head:
                await self._sign_head()
                next_head = time.monotonic() + self.head_every
        connecting.cancel()
        if self.buffered and self.connected:
            await self._drain()
        await self._sign_head()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()

    def _open_files(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._key = load_or_create_key(self.key_file)
        try:
            state = json.loads(self._state_file.read_text(encoding="utf-8"))
            self.acked_seq, self.acked_hash = int(state["acked_seq"]), str(state["acked_hash"])
            self.signed_seq = int(state["signed_seq"])
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError) as exc:
            raise NodeAuditError(f"{self._state_file}: not a node audit state file ({exc})") from None
        self.seq, self.hash = self.acked_seq, self.acked_hash
        self._buffer = Buffer(self.state_dir, self.node)
        last = self._buffer.last
        if last is not None and last.seq > self.seq:
            self.seq, self.hash = last.seq, last.hash

    def _save_state(self) -> None:
        tmp = self._state_file.with_suffix(".json.tmp")
        tmp.write_text(
            json.dumps(
                {"acked_seq": self.acked_seq, "acked_hash": self.acked_hash, "signed_seq": self.signed_seq}
            ),
            encoding="utf-8",
        )
        os.replace(tmp, self._state_file)

    async def _open_connection(self, nats: Any, reconnected: Any, quiet: Any) -> Any:
        return await nats.connect(
            self.nats_url,
            connect_timeout=self.connect_timeout,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=self.retry_every,
            error_cb=quiet,
            reconnected_cb=reconnected,
        )

    async def _connect(self) -> None:
        import nats
        from nats.js.api import StreamConfig
        from nats.js.errors import NotFoundError

        async def quiet(exc: Exception) -> None:
            log.debug("node audit NATS: %s", exc)

        async def reconnected() -> None:
            self._retry_at = 0.0
            self._poke()

        try:
            # Bounded: with unlimited reconnects, nats-py retries a first connection for ever too.
            nc = await asyncio.wait_for(
                self._open_connection(nats, reconnected, quiet), self.connect_timeout * 2
            )
        except Exception as exc:  # the buffer takes the entries; retried every retry_every seconds
            log.warning(
                "node %s: audit stream unreachable at %s (%s); buffering", self.node, self.nats_url, exc
            )
            self._retry_at = time.monotonic() + self.retry_every
            return
        js = nc.jetstream(timeout=self.publish_timeout)
        try:
            try:
                await js.stream_info(self.stream)
            except NotFoundError:
                await js.add_stream(StreamConfig(name=self.stream, subjects=[f"{self.prefix}.>"]))
        except Exception as exc:
            log.warning("node %s: audit stream %s not usable (%s); buffering", self.node, self.stream, exc)
            await nc.close()
            self._retry_at = time.monotonic() + self.retry_every
            return
        self._nc, self._js = nc, js
        self._poke()

    async def _resume_from_stream(self) -> None:
        """Continue after the stream's last entry of this node if it is newer than the state files say (the
        state file's last write lost); the same sequence number with another hash is a fork: refuse."""
        if not self.connected:
            return
        from nats.js.errors import NotFoundError

        try:
            msg = await self._js.get_last_msg(self.stream, self._subject)
        except NotFoundError:
            return
        entries = parse_lines(msg.data)
        if not entries:
            return
        last = entries[-1]
        if last.seq == self.seq and last.hash != self.hash:
            raise NodeAuditError(
                f"node {self.node}: the stream's entry {last.seq} has hash {last.hash[:16]}..., the local state"
                f" {self.hash[:16]}...: two processes wrote this node's chain (give each its own node id)"
            )
        if last.seq > self.seq and not self.buffered:
            self.seq, self.hash = last.seq, last.hash
            self.acked_seq, self.acked_hash = last.seq, last.hash
            self._save_state()

    def _messages(self, entries: list[NodeEntry]) -> list[tuple[bytes, str]]:
        limit = min(MAX_MESSAGE, int(getattr(self._nc, "max_payload", MAX_MESSAGE * 2)) - 4096)
        out: list[tuple[bytes, str]] = []
        lines: list[str] = []
        size, first = 0, entries[0].seq
        for e in entries:
            line = e.line() + "\n"
            n = len(line.encode("utf-8"))
            if lines and size + n > limit:
                out.append(("".join(lines).encode("utf-8"), f"{self.node}:{first}-{e.seq - 1}"))
                lines, size, first = [], 0, e.seq
            lines.append(line)
            size += n
        out.append(("".join(lines).encode("utf-8"), f"{self.node}:{first}-{entries[-1].seq}"))
        return out

    async def _publish(self, entries: list[NodeEntry]) -> None:
        """Publish in order and wait for every acknowledgement (raises if any is missing)."""
        sends = [
            self._js.publish(
                self._subject,
                data,
                stream=self.stream,
                timeout=self.publish_timeout,
                headers={"Nats-Msg-Id": mid},
            )
            for data, mid in self._messages(entries)
        ]
        await asyncio.gather(*sends)

    def _acked(self, last: NodeEntry) -> None:
        self.acked_seq, self.acked_hash = last.seq, last.hash
        self._save_state()

    async def _write(self, items: list[_Pending]) -> None:
        chained = chain_entries(
            self.node, self.seq, self.hash, dt.datetime.now(dt.UTC), [e for e, _, _ in items]
        )
        assert self._buffer is not None
        if not self._buffer.count and self.connected:
            try:
                await self._publish(chained)
            except (
                Exception
            ) as exc:  # unreachable or timed out: the buffer takes them (republish is deduplicated)
                log.warning("node %s: publishing audit entries failed (%s); buffering", self.node, exc)
                self._retry_at = time.monotonic() + self.retry_every
            else:
                self.seq, self.hash = chained[-1].seq, chained[-1].hash
                self._acked(chained[-1])
                _settle(items, [e.seq for e in chained])
                return
        room = max(0, self.buffer_limit - self._buffer.count)
        kept = chained[:room]
        results: list[int | BaseException] = []
        if kept:
            try:
                self._buffer.append(kept)
            except OSError as exc:
                log.error("node %s: the audit buffer cannot be written (%s)", self.node, exc)
                _settle(
                    items,
                    [NodeAuditError(f"node {self.node}: audit buffer not writable: {exc}")] * len(items),
                )
                return
            self.seq, self.hash = kept[-1].seq, kept[-1].hash
            results = [e.seq for e in kept]
        full = AuditBufferFull(self.node, self.buffer_limit, self.retry_every)
        _settle(items, results + [full] * (len(items) - len(kept)))

    async def _drain(self, chunks: int = 20) -> None:
        """Publish buffered entries in order, a chunk at a time, moving the buffer's offset after each ack."""
        assert self._buffer is not None
        for _ in range(chunks):
            if not self._buffer.count:
                return
            entries, pos = self._buffer.read(self.max_batch, MAX_MESSAGE)
            try:
                await self._publish(entries)
            except Exception as exc:
                log.warning("node %s: draining the audit buffer failed (%s)", self.node, exc)
                self._retry_at = time.monotonic() + self.retry_every
                return
            self._buffer.consumed(len(entries), pos)
            self._acked(entries[-1])
        log.info("node %s: %d audit entries still buffered", self.node, self._buffer.count)

    async def _sign_head(self) -> None:
        """Sign what the stream acknowledged since the last head; publish it and any the stream missed."""
        if self.acked_seq > self.signed_seq:
            head = sign_head(
                self._key,
                dt.datetime.now(dt.UTC),
                self.acked_seq,
                self.acked_hash,
                self.acked_seq,
                [(self.signed_seq + 1, self.acked_seq)],
            )
            append_head(self.heads_file, head)
            self.signed_seq = self.acked_seq
            self._save_state()
            self._unpublished.append(head)
        while self._unpublished and self.connected:
            head = self._unpublished[0]
            try:
                await self._js.publish(
                    heads_subject(self.prefix, self.node),
                    head.line().encode(),
                    stream=self.stream,
                    timeout=self.publish_timeout,
                    headers={"Nats-Msg-Id": f"{head.key}:{head.sig[:32]}"},
                )
            except Exception as exc:  # the heads file has it; published with the next head
                log.warning("node %s: publishing the signed head failed (%s)", self.node, exc)
                return
            self._unpublished.pop(0)
