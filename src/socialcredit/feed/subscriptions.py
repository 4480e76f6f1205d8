"""Webhook subscriptions and the visible state of their deliveries."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, func, insert, select, update

from ..store.tables import deliveries, subscriptions
from .errors import FeedInvalid
from .reader import head
from .targets import check_subscription_url
from .watchlists import get_watchlist

__all__ = [
    "DELIVERY_STATUSES",
    "create_subscription",
    "get_subscription",
    "list_deliveries",
    "list_subscriptions",
    "redeliver",
    "set_active",
]

DELIVERY_STATUSES = ("pending", "delivered", "dead")


def _check_url(url: str) -> str:
    url = (url or "").strip()
    if any(c <= " " or c == "\x7f" or "\ud800" <= c <= "\udfff" for c in url):
        # A URL holds no spaces or control characters (RFC 3986); NUL is not even storable on PostgreSQL.
        raise FeedInvalid("url", url[:200], "a URL may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket, or a netloc that NFKC normalisation changes
        host = None
    if not host or parts.scheme not in ("http", "https"):
        raise FeedInvalid("url", url, "an absolute http:// or https:// URL")
    if len(url) > 2000:
        raise FeedInvalid("url", url[:60], "at most 2000 characters")
    check_subscription_url(url)  # not into the registry's own network (feed.targets)
    return url


def create_subscription(
    conn: Connection,
    owner: str,
    url: str,
    now: dt.datetime,
    *,
    watchlist_id: str | None = None,
    types: list[str] | None = None,
    from_start: bool = False,
) -> dict[str, Any]:
    """A new webhook subscription; the answer carries its ``secret`` (shown only here). It receives events
    committed from now on (``from_start``: the whole outbox)."""
    url = _check_url(url)
    if watchlist_id is not None:
        get_watchlist(conn, watchlist_id, owner)  # LookupError: not this owner's
    for t in types or []:
        if not isinstance(t, str) or not all(part.isidentifier() for part in t.split(".")):
            raise FeedInvalid("types", t, "an event type such as filed, revoked, repaired, grade.changed")
    sid = "sub_" + secrets.token_hex(8)
    secret = "whsec_" + secrets.token_urlsafe(24)
    conn.execute(
        insert(subscriptions).values(
            id=sid,
            owner=owner,
            url=url,
            secret=secret,
            watchlist_id=watchlist_id,
            types=json.dumps(sorted(set(types or []))),
            active=True,
            cursor=0 if from_start else head(conn),
            created_at=now,
        )
    )
    out = get_subscription(conn, sid, owner)
    out["secret"] = secret
    return out


def _counts(conn: Connection, sid: str) -> dict[str, int]:
    q = (
        select(deliveries.c.status, func.count())
        .where(deliveries.c.subscription_id == sid)
        .group_by(deliveries.c.status)
    )
    got = {str(s): int(n) for s, n in conn.execute(q)}
    return {s: got.get(s, 0) for s in DELIVERY_STATUSES}


def _public(conn: Connection, row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "owner": row.owner,
        "url": row.url,
        "watchlist_id": row.watchlist_id,
        "types": json.loads(row.types),
        "active": bool(row.active),
        "cursor": int(row.cursor),
        "created_at": row.created_at.isoformat(),
        "deliveries": _counts(conn, row.id),
    }


def get_subscription(conn: Connection, sid: str, owner: str | None) -> dict[str, Any]:
    row = conn.execute(select(subscriptions).where(subscriptions.c.id == sid)).first()
    if row is None or (owner is not None and row.owner != owner):
        raise LookupError(f"no subscription {sid}")
    return _public(conn, row)


def list_subscriptions(conn: Connection, owner: str | None) -> list[dict[str, Any]]:
    q = select(subscriptions).order_by(subscriptions.c.created_at, subscriptions.c.id)
    if owner is not None:
        q = q.where(subscriptions.c.owner == owner)
    return [_public(conn, r) for r in conn.execute(q).all()]


def set_active(conn: Connection, sid: str, owner: str | None, active: bool) -> dict[str, Any]:
    get_subscription(conn, sid, owner)
    conn.execute(update(subscriptions).where(subscriptions.c.id == sid).values(active=active))
    return get_subscription(conn, sid, owner)


def list_deliveries(
    conn: Connection, sid: str, owner: str | None, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    get_subscription(conn, sid, owner)
    if status is not None and status not in DELIVERY_STATUSES:
        raise FeedInvalid("status", status, f"one of {', '.join(DELIVERY_STATUSES)}")
    q = select(deliveries).where(deliveries.c.subscription_id == sid)
    if status is not None:
        q = q.where(deliveries.c.status == status)
    rows = conn.execute(q.order_by(deliveries.c.id.desc()).limit(limit)).all()
    out = []
    for r in rows:
        d = {str(k): (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r._mapping.items()}
        out.append(d)
    return out


def redeliver(conn: Connection, sid: str, owner: str | None, now: dt.datetime) -> int:
    """Put the subscription's dead-lettered deliveries back in the queue (attempts start again)."""
    get_subscription(conn, sid, owner)
    res = conn.execute(
        update(deliveries)
        .where(deliveries.c.subscription_id == sid, deliveries.c.status == "dead")
        .values(status="pending", attempts=0, next_attempt_at=now, dead_at=None)
    )
    return int(res.rowcount)
