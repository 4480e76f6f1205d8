"""Claims: how two or more dispatchers share the deliveries of one database (decision 1100).

A delivery is worked on by the dispatcher whose name is in ``claimed_by`` until ``claimed_until`` (its lease);
a claim past its lease is anyone's, so a dispatcher killed with its claims held stops holding them after one
lease. Only a subscription's *head* can be claimed: its oldest ``pending`` delivery, when it is due, its
subscription active and nobody's lease on it is running. With the head the claimant takes the next pending
deliveries of the same subscription (a *run*, oldest first): nobody else can claim those, since an earlier one
(the head) is pending. So a subscription is delivered by one dispatcher at a time, in order, and different
subscriptions are shared out among the dispatchers.

PostgreSQL: the heads are selected ``FOR UPDATE SKIP LOCKED``, so a second dispatcher claiming at the same
moment skips the rows being claimed instead of waiting for them, and a row claimed and committed meanwhile is
re-checked against the lease by the server before it is returned. SQLite: every transaction of this store
begins ``IMMEDIATE`` (store.database), so claims are made one at a time by construction; ``FOR UPDATE`` is not
rendered there.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select, update

from ..store.tables import deliveries, subscriptions

__all__ = ["claim_runs", "dispatcher_name", "release", "renew"]


def dispatcher_name() -> str:
    """Who holds a claim: host, process and a random part (a restarted process is somebody else)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


def _free(now: dt.datetime) -> ColumnElement[bool]:
    return or_(deliveries.c.claimed_until.is_(None), deliveries.c.claimed_until <= now)


def claim_runs(
    conn: Connection, holder: str, now: dt.datetime, lease: float, *, heads: int, run: int
) -> list[list[int]]:
    """Claim up to ``heads`` subscription heads with up to ``run`` deliveries each; returns the runs' delivery
    ids, each run oldest first. Call inside a transaction (``engine.begin()``)."""
    later = deliveries.alias("later")
    head_id = (
        select(func.min(later.c.id))
        .where(later.c.subscription_id == subscriptions.c.id, later.c.status == "pending")
        .scalar_subquery()
    )
    found = conn.execute(
        select(deliveries.c.id, deliveries.c.subscription_id)
        .select_from(subscriptions)
        .join(deliveries, deliveries.c.id == head_id)
        .where(
            subscriptions.c.active.is_(True),
            deliveries.c.status == "pending",  # re-checked on the row (PostgreSQL), as the lease is
            deliveries.c.next_attempt_at <= now,
            _free(now),
        )
        .order_by(deliveries.c.id)
        .limit(heads)
        .with_for_update(of=deliveries, skip_locked=True)
    ).all()
    until = now + dt.timedelta(seconds=lease)
    runs: list[list[int]] = []
    for head, sid in found:
        rows = conn.execute(
            select(deliveries.c.id, deliveries.c.next_attempt_at)
            .where(
                deliveries.c.subscription_id == sid,
                deliveries.c.status == "pending",
                deliveries.c.id >= head,
            )
            .order_by(deliveries.c.id)
            .limit(run)
        ).all()
        ids: list[int] = []
        for rid, nxt in rows:  # a run ends at the first one not due yet (it keeps its place in the order)
            if rid != head and nxt > now:
                break
            ids.append(int(rid))
        conn.execute(
            update(deliveries).where(deliveries.c.id.in_(ids)).values(claimed_by=holder, claimed_until=until)
        )
        runs.append(ids)
    return runs


def renew(conn: Connection, holder: str, ids: Sequence[int], now: dt.datetime, lease: float) -> bool:
    """Extend the lease on ``ids``; False (and nothing extended) when any of them is no longer ours."""
    # Still ours by name, even past the lease: a dispatcher taking a claim over writes its own name.
    mine = and_(deliveries.c.id.in_(list(ids)), deliveries.c.claimed_by == holder)
    got = conn.execute(
        update(deliveries).where(mine).values(claimed_until=now + dt.timedelta(seconds=lease))
    ).rowcount
    if got != len(ids):
        release(conn, holder, ids)
        return False
    return True


def release(conn: Connection, holder: str, ids: Sequence[int]) -> None:
    """Give back our claim on ``ids`` (those still ours)."""
    if ids:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(list(ids)), deliveries.c.claimed_by == holder)
            .values(claimed_by=None, claimed_until=None)
        )
