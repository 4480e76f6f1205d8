"""Watchlists: a subscriber's own subject ids (a bank's customers, a platform's bidders).

A subscription tied to a watchlist receives only events whose ``subject_ids`` (the subject and the persons
a record reaches) meet the list; ``socialcredit monitor run`` re-screens one. The owner is the API key id (or
``cli``) that created it; only the owner sees or changes it.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from ..identifiers import IdentifierError, parse
from ..store.tables import watchlist_members, watchlists
from .errors import FeedInvalid

__all__ = [
    "MAX_MEMBERS",
    "WatchlistInvalid",
    "create_watchlist",
    "get_watchlist",
    "members",
    "members_among",
    "parse_members",
    "upload_members",
]

MAX_MEMBERS = 1_000_000


class WatchlistInvalid(ValueError):
    """Some lines of an upload are not identifiers; ``errors`` lists (line, value, reason) for each."""

    def __init__(self, errors: list[tuple[int, str, str]]) -> None:
        first = "; ".join(f"line {n}: {v!r}: {r}" for n, v, r in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(f"{len(errors)} invalid subject ids: {first}{more}")
        self.errors = errors


def create_watchlist(conn: Connection, owner: str, name: str, now: dt.datetime) -> dict[str, Any]:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise FeedInvalid("name", name, "1 to 200 characters")
    wid = "wl_" + secrets.token_hex(8)
    conn.execute(insert(watchlists).values(id=wid, owner=owner, name=name, created_at=now))
    return get_watchlist(conn, wid, owner)


def get_watchlist(conn: Connection, watchlist_id: str, owner: str | None) -> dict[str, Any]:
    """The watchlist with its member count; a LookupError if absent or (``owner`` given) another's."""
    row = conn.execute(select(watchlists).where(watchlists.c.id == watchlist_id)).first()
    if row is None or (owner is not None and row.owner != owner):
        raise LookupError(f"no watchlist {watchlist_id}")
    count = conn.execute(
        select(func.count())
        .select_from(watchlist_members)
        .where(watchlist_members.c.watchlist_id == watchlist_id)
    ).scalar_one()
    return {
        "id": row.id,
        "owner": row.owner,
        "name": row.name,
        "created_at": row.created_at.isoformat(),
        "members": int(count),
    }


def parse_members(lines: Iterable[str], allowlist: frozenset[str] = frozenset()) -> list[str]:
    """Canonical ids from lines of text (blank lines and ``#`` comments skipped); every bad line reported."""
    out: dict[str, None] = {}
    errors: list[tuple[int, str, str]] = []
    for n, line in enumerate(lines, start=1):
        value = line.strip()
        if not value or value.startswith("#"):
            continue
        try:
            out[parse(value, allowlist).canonical] = None
        except IdentifierError as exc:
            errors.append((n, value, exc.reason))
    if errors:
        raise WatchlistInvalid(errors)
    if len(out) > MAX_MEMBERS:
        raise FeedInvalid("members", len(out), f"at most {MAX_MEMBERS} subject ids a watchlist")
    return list(out)


def upload_members(conn: Connection, watchlist_id: str, owner: str | None, ids: list[str]) -> int:
    """Replace the watchlist's members with ``ids`` (already canonical); all or nothing."""
    get_watchlist(conn, watchlist_id, owner)
    conn.execute(delete(watchlist_members).where(watchlist_members.c.watchlist_id == watchlist_id))
    for i in range(0, len(ids), 5000):
        conn.execute(
            insert(watchlist_members),
            [{"watchlist_id": watchlist_id, "subject_id": s} for s in ids[i : i + 5000]],
        )
    return len(ids)


def members(conn: Connection, watchlist_id: str) -> list[str]:
    q = select(watchlist_members.c.subject_id).where(watchlist_members.c.watchlist_id == watchlist_id)
    return sorted(conn.execute(q).scalars())


def members_among(conn: Connection, watchlist_id: str, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` are on the watchlist (one query a thousand ids)."""
    wanted = list(set(ids))
    found: set[str] = set()
    for i in range(0, len(wanted), 1000):
        q = select(watchlist_members.c.subject_id).where(
            watchlist_members.c.watchlist_id == watchlist_id,
            watchlist_members.c.subject_id.in_(wanted[i : i + 1000]),
        )
        found.update(conn.execute(q).scalars())
    return found
