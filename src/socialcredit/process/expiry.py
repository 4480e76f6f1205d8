"""Expiry: records that end by their date get an ``expired`` event soon after (the feed's news of it).

Checks never wait for this: ``applies_at`` compares ``effective_until`` with the instant asked about, so a
check is exact to the second. The event is for followers of the feed (webhooks, watchlists, NATS); the
dispatcher loop and the API server each run the sweep every few seconds (docs/due-process.md, "Expiry"), so
``expired`` arrives within a minute of the date.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select

from ..registry import RecordState, apply_event
from ..store.tables import records

__all__ = ["expire_due"]


class _NotDue(Exception):
    """The record changed between the sweep's select and its turn at the writers' lock."""


def expire_due(engine: Engine, now: dt.datetime, batch: int = 500, actor: str = "system:expiry") -> list[int]:
    """Append ``expired`` for every filed record whose ``effective_until`` has passed; return their ids.

    One short transaction per batch, so a large backlog never holds the writers' lock for long. Several sweepers
    may run at once (each server process, the dispatcher, ``expire run``): each record is read again under the
    writers' lock, so one that another sweeper expired, or a registrar revoked, meanwhile is left alone (never a
    second ``expired``, never a revoked record turned ``expired``)."""

    def change(s: RecordState) -> RecordState:
        if s.status != "filed" or s.effective_until is None or s.effective_until > now:
            raise _NotDue
        return s.with_(status="expired")

    done: list[int] = []
    while True:
        with engine.begin() as conn:
            ids = list(
                conn.execute(
                    select(records.c.id)
                    .where(records.c.status == "filed", records.c.effective_until <= now)
                    .order_by(records.c.id)
                    .limit(batch)
                ).scalars()
            )
            for rid in ids:
                try:
                    apply_event(conn, rid, "expired", change, actor, now, "effective_until passed")
                except _NotDue:  # raised before anything was written
                    continue
                done.append(rid)
        if len(ids) < batch:
            return done
