"""Signing and publishing heads: to the append-only heads file always, to NATS JetStream when configured.

A head vouches only for entries its own process appended (:data:`socialcredit.audit.WITNESS`), each checked
committed first, never for whatever the database holds: a signer that signed the database's newest entry would
bless a row forged there since. The server publishes one at startup, every ``audit_head_every`` seconds (a
minute by default, whether or not anything changed: a later head is what turns "seen, not yet covered" into an
alarm) and on shutdown; a CLI command that appended entries publishes one as it ends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import URL, Engine, select
from sqlalchemy.engine import make_url

from ..audit import GENESIS, WITNESS
from ..settings import Settings
from ..store.tables import audit_log
from .heads import SignedHead, append_head, merge_ranges, sign_head
from .keys import load_or_create_key

if TYPE_CHECKING:
    from ..api.state import AppState

__all__ = [
    "NATS_STREAM",
    "NATS_SUBJECT",
    "Anchor",
    "AnchorPaths",
    "anchor_paths",
    "publish_nats",
    "publish_witnessed",
    "publishing",
    "read_nats_heads",
]

log = logging.getLogger("socialcredit.anchor")
NATS_STREAM = "SOCIALCREDIT_AUDIT"
NATS_SUBJECT = "socialcredit.audit.heads"


@dataclass(frozen=True, slots=True)
class AnchorPaths:
    key: Path
    heads: Path


def anchor_paths(settings: Settings, url: URL | str | None = None) -> AnchorPaths:
    """The key and heads files: as configured, else beside an SQLite file (``X.db`` gives ``X.audit-key`` and
    ``X.audit-heads.jsonl``: one pair per database), else ``var/<database name>.audit-key``."""
    parsed = make_url(url if url is not None else settings.database_url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        db = Path(parsed.database)
        base = db.with_name(db.stem)
    else:
        base = Path("var") / (parsed.database or "socialcredit")
    return AnchorPaths(
        Path(settings.audit_key_file) if settings.audit_key_file else Path(f"{base}.audit-key"),
        Path(settings.audit_heads_file) if settings.audit_heads_file else Path(f"{base}.audit-heads.jsonl"),
    )


class Anchor:
    """One database's signer: turns what this process appended into signed heads."""

    def __init__(
        self,
        engine: Engine,
        key: Ed25519PrivateKey,
        heads: Path,
        nats_url: str | None = None,
    ) -> None:
        self.engine, self.key, self.heads, self.nats_url = engine, key, heads, nats_url
        self.nats_stream, self.nats_subject = NATS_STREAM, NATS_SUBJECT
        self._seq, self._hash = 0, GENESIS  # the newest entry this signer has vouched for

    @classmethod
    def open(cls, engine: Engine, settings: Settings) -> Anchor:
        paths = anchor_paths(settings, engine.url)
        return cls(engine, load_or_create_key(paths.key), paths.heads, settings.nats_url)

    def publish(self, now: dt.datetime, *, adopt: bool = False) -> SignedHead:
        """Sign and publish a head of what this process appended since its last head.

        ``adopt``: vouch for the whole chain as it stands (once, when anchoring an existing log, or after an
        operator has examined entries a crashed process never covered); the caller verifies the chain first."""
        url = self.engine.url
        records = WITNESS.take(url)
        with self.engine.connect() as conn:
            last = conn.execute(
                select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
            ).first()
            seen = int(last.seq) if last is not None else 0
            unsure = sorted({r.last for r in records if r.state == "open" and r.last <= seen})
            stored: dict[int, str] = {}
            for i in range(0, len(unsure), 500):
                q = select(audit_log.c.seq, audit_log.c.hash).where(audit_log.c.seq.in_(unsure[i : i + 500]))
                stored.update({int(r.seq): str(r.hash) for r in conn.execute(q)})
        covers: list[tuple[int, int]] = []
        in_flight = []
        for r in records:
            if r.state == "open" and r.last > seen:
                in_flight.append(r)
            elif r.state == "committed" or (r.state == "open" and stored.get(r.last) == r.digest):
                covers.append((r.first, r.last))
                if r.last > self._seq:
                    self._seq, self._hash = r.last, r.digest
        WITNESS.give_back(url, in_flight)
        # Entries seen committing count as seen even if the database no longer holds them.
        seen = max([seen, *(b for _, b in covers)])
        if adopt and last is not None:
            covers.append((1, int(last.seq)))
            if int(last.seq) >= self._seq:
                self._seq, self._hash = int(last.seq), str(last.hash)
        head = sign_head(self.key, now, self._seq, self._hash, seen, merge_ranges(covers))
        append_head(self.heads, head)
        if self.nats_url:
            try:
                publish_nats(self.nats_url, head, stream=self.nats_stream, subject=self.nats_subject)
            except Exception:  # the file has it; NATS is the second copy, retried with the next head
                log.exception("publishing the audit head to NATS failed")
        return head


def publish_nats(
    url: str,
    head: SignedHead,
    *,
    stream: str = NATS_STREAM,
    subject: str = NATS_SUBJECT,
    timeout: float = 5.0,
) -> None:
    """Publish one head to JetStream stream ``SOCIALCREDIT_AUDIT`` (created if missing), deduplicated by id."""
    from nats.js.api import StreamConfig
    from nats.js.errors import NotFoundError

    async def go(js: Any) -> None:
        try:
            await js.stream_info(stream)
        except NotFoundError:
            await js.add_stream(StreamConfig(name=stream, subjects=[subject]))
        msg_id = f"{head.key}:{head.sig[:32]}"
        await js.publish(subject, head.line().encode(), headers={"Nats-Msg-Id": msg_id})

    _with_jetstream(url, timeout, go)


def read_nats_heads(
    url: str, *, stream: str = NATS_STREAM, subject: str = NATS_SUBJECT, timeout: float = 5.0
) -> list[str]:
    """Every head line the stream holds, oldest first (none if there is no stream yet)."""
    from nats.js.errors import NotFoundError

    async def go(js: Any) -> list[str]:
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            return []
        lines: list[str] = []
        if info.state.messages:
            sub = await js.subscribe(subject, stream=stream, ordered_consumer=True)
            for _ in range(info.state.messages):
                msg = await sub.next_msg(timeout=timeout)
                lines.append(msg.data.decode("utf-8", "replace"))
            await sub.unsubscribe()
        return lines

    result: list[str] = _with_jetstream(url, timeout, go)
    return result


def _with_jetstream(url: str, timeout: float, work: Callable[[Any], Any]) -> Any:
    import nats

    async def go() -> Any:
        nc: Any = await nats.connect(url, connect_timeout=timeout, max_reconnect_attempts=1)
        try:
            return await work(nc.jetstream(timeout=timeout))
        finally:
            await nc.close()

    return asyncio.run(go())


def publish_witnessed(settings: Settings) -> None:
    """For a CLI command that appended entries to the configured database: a head covering them, as it ends.
    (Only that database's: the key and heads files configured are its own.)"""
    from ..store import connect

    url = make_url(settings.database_url)
    if url not in WITNESS.databases():
        return
    engine = connect(settings.database_url)
    try:
        Anchor.open(engine, settings).publish(dt.datetime.now(dt.UTC))
    finally:
        engine.dispose()


@asynccontextmanager
async def publishing(state: AppState) -> AsyncIterator[None]:
    """The server's heads: one at startup (a bad key stops the start), one every ``audit_head_every`` seconds,
    and one on shutdown; each on the database thread, in turn with the commits."""
    anchor = Anchor.open(state.db.engine, state.settings)

    async def publish() -> None:
        job: Callable[[], object] = lambda: anchor.publish(dt.datetime.now(dt.UTC))  # noqa: E731
        await asyncio.wrap_future(state.audit.run(job))

    async def every(seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await publish()
            except Exception:  # retried at the next tick; the entries wait in the witness meanwhile
                log.exception("publishing the audit head failed")

    await publish()
    task = asyncio.create_task(every(state.settings.audit_head_every))
    try:
        yield
    finally:
        task.cancel()
        try:
            await publish()
        except Exception:  # the server stops either way; the entries since the last head show as pending
            log.exception("publishing the audit head at shutdown failed")
