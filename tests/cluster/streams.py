"""Reading back what a private NATS holds, and filing records under load, for the failure tests."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from typing import Any

from sqlalchemy import Engine, select

from factories import person_id, row
from socialcredit.catalogue import Catalogue
from socialcredit.feed.nats import STREAM
from socialcredit.registry import check_row, file_batch
from socialcredit.store.tables import outbox

__all__ = ["Filer", "outbox_ids", "stream_count", "stream_ids"]


def stream_ids(nats_url: str, stream: str = STREAM) -> list[str]:
    """Every message of ``stream`` in stream order, as its ``Nats-Msg-Id`` (the event id it carries)."""

    async def read() -> list[str]:
        import nats
        from nats.js.errors import NotFoundError

        nc = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0)
        try:
            js = nc.jetstream(timeout=5)
            try:
                info = await js.stream_info(stream)
            except NotFoundError:
                return []
            out: list[str] = []
            if not info.state.messages:
                return out
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(stream, seq)
                out.append((msg.headers or {}).get("Nats-Msg-Id", f"(no id at stream seq {seq})"))
            return out
        finally:
            await nc.close()

    return asyncio.run(read())


def stream_count(nats_url: str, stream: str = STREAM) -> int:
    """How many messages ``stream`` holds (0 if it does not exist yet)."""

    async def read() -> int:
        import nats
        from nats.js.errors import NotFoundError

        nc = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0)
        try:
            try:
                return int((await nc.jetstream(timeout=5).stream_info(stream)).state.messages)
            except NotFoundError:
                return 0
        finally:
            await nc.close()

    return asyncio.run(read())


def outbox_ids(engine: Engine) -> list[str]:
    """The outbox's event ids in outbox order: what the stream must hold, exactly."""
    with engine.connect() as conn:
        return [str(s) for s in conn.execute(select(outbox.c.event_seq).order_by(outbox.c.seq)).scalars()]


class Filer:
    """Files records on a thread, one transaction each, ``every`` seconds apart: load while something fails.
    Each record is for its own subject (``person_id(n, birth=...)``), so a test can check them one by one."""

    def __init__(
        self, engine: Engine, catalogue: Catalogue, count: int, every: float = 0.005, first: int = 0
    ) -> None:
        self.engine, self.catalogue, self.count, self.every = engine, catalogue, count, every
        self.first = first  # the first record's number: filers side by side file distinct records
        self.filed: list[tuple[int, str]] = []  # (record id, subject id)
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="filer", daemon=True)

    @staticmethod
    def subject(n: int) -> str:
        return person_id(n % 1000, birth=f"19{70 + n // 1000 % 30}0101")

    def start(self) -> Filer:
        self._thread.start()
        return self

    def _run(self) -> None:
        for n in range(self.first, self.first + self.count):
            subject = self.subject(n)
            data: dict[str, Any] = row(external_id=f"LOAD-{n}", subject_id=subject, decided_on="2026-01-05")
            now = dt.datetime.now(dt.UTC)
            try:
                filing = check_row(data, self.catalogue, now)
                with self.engine.begin() as conn:
                    (outcome,) = file_batch(conn, [filing], self.catalogue, "load", now)
            except Exception as exc:  # noted, and the assertion names it
                self.errors.append(f"{n}: {type(exc).__name__}: {exc}")
                continue
            self.filed.append((outcome.record_id, subject))
            time.sleep(self.every)

    def join(self, seconds: float = 60) -> None:
        self._thread.join(seconds)
        assert not self._thread.is_alive(), "the filer did not finish"
        assert not self.errors, self.errors[:5]
