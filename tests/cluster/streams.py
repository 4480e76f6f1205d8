"""Reading back what a private NATS holds, and filing records under load, for the failure tests."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import threading
import time
from typing import Any

from sqlalchemy import Engine, select

from factories import org_id, person_id, row
from socialcredit.catalogue import Catalogue
from socialcredit.feed.nats import STREAM
from socialcredit.registry import Conflict, check_row, file_batch, revoke
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
    """The outbox's event ids in outbox order (a derived event's own key, grade:...): what the stream must hold,
    exactly."""
    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.event_seq, outbox.c.event_key).order_by(outbox.c.seq)).all()
    return [key if key is not None else str(seq) for seq, key in rows]


class Filer:
    """Files records on a thread, one transaction each, ``every`` seconds apart: load while something fails.

    A seeded mix: persons' judgment-defaulter records and air-travel misconduct, organisations' records that
    reach their legal representative, decision dates over two years (so they end at different times), and
    every fifth step a revocation of an earlier record. Record ``n`` is for subject :meth:`subject` ``(n)``."""

    def __init__(
        self,
        engine: Engine,
        catalogue: Catalogue,
        count: int,
        every: float = 0.005,
        first: int = 0,
        seed: int = 20,
    ) -> None:
        self.engine, self.catalogue, self.count, self.every = engine, catalogue, count, every
        self.first = first  # the first record's number: filers side by side file distinct records
        self.random = random.Random(seed + first)
        self.filed: list[tuple[int, str]] = []  # (record id, subject id)
        self.revoked: list[int] = []
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="filer", daemon=True)

    @staticmethod
    def subject(n: int) -> str:
        return person_id(n % 1000, birth=f"19{70 + n // 1000 % 30}0101")

    def row(self, n: int) -> dict[str, Any]:
        day = dt.date(2025, 1, 1) + dt.timedelta(days=self.random.randrange(700))
        base = {"external_id": f"LOAD-{n}", "subject_id": self.subject(n), "decided_on": day.isoformat()}
        if n % 3 == 1:
            return row(
                **base,
                authority="caac",
                category="transport.air_serious_misconduct",
                decision_no=f"民航罚〔2026〕{n}号",
            )
        if n % 3 == 2:
            return row(
                **{**base, "subject_id": org_id(n % 100_000)},
                subject_name="某某有限公司",
                legal_representative_id=self.subject(n),
                legal_representative_name="张三",
            )
        return row(**base)

    def start(self) -> Filer:
        self._thread.start()
        return self

    def _step(self, n: int) -> None:
        now = dt.datetime.now(dt.UTC)
        if n % 5 == 4 and self.filed:
            record_id = self.random.choice(self.filed)[0]
            try:
                with self.engine.begin() as conn:
                    revoke(conn, record_id, "revoked under load", "load", now)
                self.revoked.append(record_id)
            except Conflict:  # already revoked, or ended: nothing to do
                pass
            return
        filing = check_row(self.row(n), self.catalogue, now)
        with self.engine.begin() as conn:
            (outcome,) = file_batch(conn, [filing], self.catalogue, "load", now)
        self.filed.append((outcome.record_id, self.subject(n)))

    def _run(self) -> None:
        for n in range(self.first, self.first + self.count):
            try:
                self._step(n)
            except Exception as exc:  # noted, and the assertion names it
                self.errors.append(f"{n}: {type(exc).__name__}: {exc}")
            time.sleep(self.every)

    def join(self, seconds: float = 60) -> None:
        self._thread.join(seconds)
        assert not self._thread.is_alive(), "the filer did not finish"
        assert not self.errors, self.errors[:5]
