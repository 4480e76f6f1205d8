"""Expiry: records that end by their date get an ``expired`` event soon after (the feed's news of it).

Checks never wait for this: ``applies_at`` compares ``effective_until`` with the instant asked about, so a
check is exact to the second. The event is for followers of the feed (webhooks, watchlists, NATS); the
dispatcher loop runs the sweep every few seconds, so ``expired`` arrives within a minute of the date.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select

from ..registry import apply_event
from ..store.tables import records

__all__ = ["expire_due"]


def expire_due(engine: Engine, now: dt.datetime, batch: int = 500, actor: str = "system:expiry") -> list[int]:
    """Append ``expired`` for every filed record whose ``effective_until`` has passed; return their ids.

    One short transaction per batch, so a large backlog never holds the writers' lock for long."""
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
                apply_event(
                    conn,
                    rid,
                    "expired",
                    lambda s: s.with_(status="expired"),
                    actor,
                    now,
                    "effective_until passed",
                )
        done.extend(ids)
        if len(ids) < batch:
            return done
