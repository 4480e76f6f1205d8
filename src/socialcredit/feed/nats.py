"""Publishing the outbox to NATS JetStream (when ``SOCIALCREDIT_NATS_URL`` is set).

Stream ``SOCIALCREDIT`` holds subjects ``socialcredit.events.<type>``; each message is the event's JSON body
with header ``Nats-Msg-Id: <event_id>``, so a republish after a crash (the cursor in ``feed_cursors`` is saved
after the acks) is dropped by JetStream's duplicate window rather than delivered twice. Check nodes follow the
stream with a durable consumer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

import nats
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError
from sqlalchemy import Engine, insert, select, update

from ..store.tables import feed_cursors, outbox
from .reader import EVENT_COLUMNS, payload_of, with_event

__all__ = ["CURSOR_NAME", "STREAM", "SUBJECT_PREFIX", "NatsPublisher"]

STREAM = "SOCIALCREDIT"
SUBJECT_PREFIX = "socialcredit.events"
CURSOR_NAME = "nats"


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
    ) -> None:
        self.url, self.stream, self.prefix, self.batch, self.timeout = url, stream, prefix, batch, timeout
        self._loop = asyncio.new_event_loop()
        self._nc: Any = None
        self._js: Any = None

    def _run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    async def _connect(self) -> None:
        self._nc = await nats.connect(self.url, connect_timeout=self.timeout, max_reconnect_attempts=3)
        self._js = self._nc.jetstream(timeout=self.timeout)
        try:
            await self._js.stream_info(self.stream)
        except NotFoundError:
            await self._js.add_stream(StreamConfig(name=self.stream, subjects=[f"{self.prefix}.>"]))

    def connect(self) -> None:
        if self._nc is None or self._nc.is_closed:
            self._run(self._connect())

    def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            self._run(self._nc.drain())
        self._nc = None
        self._loop.close()

    async def _publish(self, rows: Sequence[Any]) -> None:
        futures = [
            self._js.publish(
                f"{self.prefix}.{r.type}", payload_of(r).encode(), headers={"Nats-Msg-Id": str(r.event_seq)}
            )
            for r in rows
        ]
        await asyncio.gather(*futures)

    def publish_pending(self, engine: Engine) -> int:
        """Publish outbox rows after the saved cursor; returns how many."""
        self.connect()
        with engine.connect() as conn:
            cursor = conn.execute(
                select(feed_cursors.c.seq).where(feed_cursors.c.name == CURSOR_NAME)
            ).scalar_one_or_none()
            rows = conn.execute(
                with_event(select(outbox.c.seq, outbox.c.event_seq, outbox.c.type, *EVENT_COLUMNS))
                .where(outbox.c.seq > (cursor or 0))
                .order_by(outbox.c.seq)
                .limit(self.batch)
            ).all()
        if not rows:
            return 0
        self._run(self._publish(rows))
        now = dt.datetime.now(dt.UTC)
        with engine.begin() as conn:
            if cursor is None:
                conn.execute(insert(feed_cursors).values(name=CURSOR_NAME, seq=rows[-1].seq, updated_at=now))
            else:
                conn.execute(
                    update(feed_cursors)
                    .where(feed_cursors.c.name == CURSOR_NAME)
                    .values(seq=rows[-1].seq, updated_at=now)
                )
        return len(rows)
