"""Publishing the outbox to NATS JetStream (when ``SOCIALCREDIT_NATS_URL`` is set).

Stream ``SOCIALCREDIT`` holds subjects ``socialcredit.events.<type>`` (``SOCIALCREDIT_NATS_STREAM`` and
``SOCIALCREDIT_NATS_SUBJECT_PREFIX``, decision 1121); each message is the event's JSON body
plus the record's ``suspensions`` (what a check node's index needs beyond the feed's body, decision 1102), with
header ``Nats-Msg-Id: <event_id>``, so a republish after a crash (the cursor in ``feed_cursors`` is saved
after the acks) is dropped by JetStream's duplicate window rather than delivered twice. Check nodes follow the
stream with a durable consumer. A grade change (decision 1011) is on ``socialcredit.events.grade.changed`` with
its own id ``grade:<cause seq>:<model>``, never a record event's number; a consumer applying record events skips
that subject.

The stream is kept in outbox order with nothing missed, across NATS restarts and crashes (decision 1104): each
message also carries ``Socialcredit-Outbox-Seq`` (its outbox row) and ``Nats-Expected-Last-Sequence`` (the
stream sequence it must follow), and each round resumes after the outbox row of the stream's last message, not
after the saved cursor. So a batch cut by a restart (messages written to a connection that died, the ones after
them sent on the new one) cannot leave a hole filled later out of order: the first message after the hole is
refused by JetStream, the round fails, and the next one resumes at the hole. A stream that lost acknowledged
messages (a crash before they reached its disk) is refilled from its tail; a saved cursor that is behind (a
publisher killed before saving it) republishes nothing.

With several dispatchers on one database, one publishes at a time (decision 1100): the cursor row is held under a
lease (``held_by``, ``held_until``) taken by one atomic ``UPDATE``, so the stream keeps the outbox's order; a
publisher killed while holding it is replaced after the lease.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import nats
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError, NotFoundError
from sqlalchemy import Engine, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..settings import Settings
from ..store.tables import feed_cursors, outbox
from .claims import dispatcher_name
from .reader import EVENT_COLUMNS, payload_of, with_event

__all__ = [
    "CURSOR_NAME",
    "OUTBOX_SEQ_HEADER",
    "STREAM",
    "SUBJECT_PREFIX",
    "FeedStreamRefused",
    "NatsPublisher",
    "message_body",
]

# The defaults of SOCIALCREDIT_NATS_STREAM and SOCIALCREDIT_NATS_SUBJECT_PREFIX (decision 1121), one definition.
STREAM: str = Settings.model_fields["nats_stream"].default
SUBJECT_PREFIX: str = Settings.model_fields["nats_subject_prefix"].default
CURSOR_NAME = "nats"
OUTBOX_SEQ_HEADER = "Socialcredit-Outbox-Seq"  # the message's outbox row: where a publisher resumes


class FeedStreamRefused(RuntimeError):
    """The feed's stream cannot be used as configured (the reason names the stream, its subjects, the setting)."""


def message_body(row: Any) -> bytes:
    """A message's body: the feed's payload of the row (selected as for ``payload_of``) and the record's
    ``suspensions`` as ``[[from, until or null], ...]``, so that a check node can place the record in its index
    from the message alone (node/messages.py). Ids and times only, as the feed's body."""
    if row.body is not None:  # a derived event (grade.changed): its stored bytes, as every delivery sends
        return str(row.body).encode()
    body = json.loads(payload_of(row))
    body["suspensions"] = json.loads(row.state).get("suspensions") or []
    return json.dumps(body, ensure_ascii=False, sort_keys=True).encode()


def _covers(pattern: str, prefix: str) -> bool:
    """Whether the subject pattern ``pattern`` (``*`` a token, ``>`` the rest) takes every ``<prefix>.<type>``."""
    want = prefix.split(".")
    for i, token in enumerate(pattern.split(".")):
        if token == ">":
            return True
        if i >= len(want) or token not in ("*", want[i]):
            return False
    return False


class NatsPublisher:
    """Synchronous face over nats-py: runs its own event loop in the calling thread."""

    def __init__(
        self,
        url: str,
        *,
        stream: str = STREAM,
        prefix: str = SUBJECT_PREFIX,
        batch: int = 500,
        timeout: float = 5.0,
        lease: float = 60.0,
    ) -> None:
        self.url, self.stream, self.prefix, self.batch, self.timeout = url, stream, prefix, batch, timeout
        self.lease, self.name = lease, dispatcher_name()
        self._engine: Engine | None = None  # where the lease is held, given back on close
        self._loop = asyncio.new_event_loop()
        self._nc: Any = None
        self._js: Any = None

    def _run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    async def _connect(self) -> None:
        self._nc = await nats.connect(self.url, connect_timeout=self.timeout, max_reconnect_attempts=3)
        self._js = self._nc.jetstream(timeout=self.timeout)
        subjects = f"{self.prefix}.>"
        try:
            info = await self._js.stream_info(self.stream)
        except NotFoundError:
            try:
                await self._js.add_stream(StreamConfig(name=self.stream, subjects=[subjects]))
            except BadRequestError as exc:  # most often: another registry's stream has these subjects
                raise FeedStreamRefused(
                    f"stream {self.stream} with subjects {subjects} not created: {exc.description}; a registry "
                    "sharing this NATS server needs its own SOCIALCREDIT_NATS_STREAM and "
                    "SOCIALCREDIT_NATS_SUBJECT_PREFIX"
                ) from exc
            return
        if not any(_covers(x, self.prefix) for x in info.config.subjects or []):  # publishing would miss it
            raise FeedStreamRefused(
                f"stream {self.stream} holds subjects {info.config.subjects}, not {subjects}: set "
                "SOCIALCREDIT_NATS_SUBJECT_PREFIX to this stream's prefix, or SOCIALCREDIT_NATS_STREAM to another "
                "stream"
            )

    def connect(self) -> None:
        if self._nc is None or self._nc.is_closed:
            self._run(self._connect())

    def close(self) -> None:
        if self._engine is not None:  # a clean stop frees the lease at once (a restart publishes at once)
            with self._engine.begin() as conn:
                conn.execute(
                    update(feed_cursors)
                    .where(feed_cursors.c.name == CURSOR_NAME, feed_cursors.c.held_by == self.name)
                    .values(held_by=None, held_until=None)
                )
            self._engine = None
        if self._nc is not None and not self._nc.is_closed:
            self._run(self._nc.drain())
        self._nc = None
        self._loop.close()

    async def _publish(self, rows: Sequence[Any], after: int) -> None:
        """Publish ``rows`` pipelined, the i-th expected right after stream sequence ``after + i``; the first
        failure is raised once every answer is in (none left pending on the loop)."""
        futures = [
            self._js.publish(
                f"{self.prefix}.{r.type}",
                message_body(r),
                headers={
                    # A derived event's own id (grade:<seq>:<model>), which no record event's number can equal.
                    "Nats-Msg-Id": r.event_key if r.event_key is not None else str(r.event_seq),
                    OUTBOX_SEQ_HEADER: str(r.seq),
                    "Nats-Expected-Last-Sequence": str(after + i),
                },
            )
            for i, r in enumerate(rows)
        ]
        for answer in await asyncio.gather(*futures, return_exceptions=True):
            if isinstance(answer, BaseException):
                raise answer

    async def _tail(self) -> tuple[int, Any]:
        """The stream's last sequence, and the headers of its last message (None: none, or not readable)."""
        info = await self._js.stream_info(self.stream)
        if not info.state.messages:
            return int(info.state.last_seq), None
        try:
            msg = await self._js.get_msg(self.stream, info.state.last_seq)
        except NotFoundError:  # deleted by hand: trust the saved cursor
            return int(info.state.last_seq), None
        return int(info.state.last_seq), msg.headers or {}

    def _resume_after(self, engine: Engine, cursor: int, headers: Any) -> int:
        """The outbox seq the stream already holds up to: its last message's, else the saved cursor."""
        if headers is None:
            return cursor
        if headers.get(OUTBOX_SEQ_HEADER, "").isdigit():
            return int(headers[OUTBOX_SEQ_HEADER])
        msg_id = headers.get("Nats-Msg-Id", "")
        if msg_id.isdigit():  # a message of a publisher from before the header: its event's outbox row
            with engine.connect() as conn:
                seq = conn.execute(select(outbox.c.seq).where(outbox.c.event_seq == int(msg_id))).scalar()
            if seq is not None:
                return int(seq)
        return cursor

    def _hold(self, engine: Engine) -> int | None:
        """Take (or keep) the publisher's lease; the cursor to publish after, or None if another holds it."""
        now = dt.datetime.now(dt.UTC)
        mine = feed_cursors.c.name == CURSOR_NAME
        free = or_(
            feed_cursors.c.held_by.is_(None),
            feed_cursors.c.held_by == self.name,
            feed_cursors.c.held_until <= now,
        )
        try:
            with engine.begin() as conn:
                if conn.execute(select(feed_cursors.c.seq).where(mine)).first() is None:
                    conn.execute(insert(feed_cursors).values(name=CURSOR_NAME, seq=0, updated_at=now))
        except IntegrityError:  # another dispatcher made the row first
            pass
        with engine.begin() as conn:
            held = conn.execute(
                update(feed_cursors)
                .where(mine, free)
                .values(held_by=self.name, held_until=now + dt.timedelta(seconds=self.lease))
            ).rowcount
            if not held:
                return None
            return int(conn.execute(select(feed_cursors.c.seq).where(mine)).scalar_one())

    def publish_pending(self, engine: Engine) -> int:
        """Publish outbox rows after the saved cursor; returns how many (0 while another dispatcher publishes)."""
        self.connect()
        self._engine = engine
        cursor = self._hold(engine)
        if cursor is None:
            return 0
        stream_last, tail = self._run(self._tail())
        resume = self._resume_after(engine, cursor, tail)
        with engine.connect() as conn:
            rows = conn.execute(
                with_event(select(outbox.c.seq, outbox.c.event_seq, outbox.c.type, *EVENT_COLUMNS))
                .where(outbox.c.seq > resume)
                .order_by(outbox.c.seq)
                .limit(self.batch)
            ).all()
        if rows:
            self._run(self._publish(rows, stream_last))
        if rows or resume != cursor:
            self._save(engine, rows[-1].seq if rows else resume)
        return len(rows)

    def _save(self, engine: Engine, seq: int) -> None:
        with engine.begin() as conn:  # only while still ours: a publisher that took over has its own cursor
            conn.execute(
                update(feed_cursors)
                .where(feed_cursors.c.name == CURSOR_NAME, feed_cursors.c.held_by == self.name)
                .values(seq=seq, updated_at=dt.datetime.now(dt.UTC))
            )
