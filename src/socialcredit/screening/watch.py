"""Saved screenings (issue 17 point 6, decision 0915): a screened file kept as a watchlist of keys.

``socialcredit screen INPUT --out OUT --save NAME`` keeps, per row of the file, its key columns
(``subject_id``, ``name``, ``kind``, ``birth_date``, ``region``), its last result (status, score, and the
matched subjects with their decisions) and its keys in a reverse index (key -> rows):

* ``#<canonical id>`` for the row's own identifier and for every subject it matched;
* every listed-name key its name query may look up (:func:`~socialcredit.screening.matcher.lookup_keys`).

A change to a subject can alter a row's result only if the subject's identifier or one of its name's keys is
among the row's keys: that is what :mod:`.monitor` re-scores, and nothing else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy import Connection, insert, select

from ..store.tables import screening_watch_keys, screening_watch_rows, screening_watches
from .by_id import canonical_guess
from .files import Chunk, ScreenInputError
from .matcher import lookup_keys
from .run import _name_query
from .writers import Added

__all__ = [
    "KEY_COLUMNS",
    "NAME_RULE",
    "Collected",
    "WatchRow",
    "check_name",
    "get_watch",
    "outcome_of",
    "row_keys",
    "save_watch",
    "stored_key",
]

KEY_COLUMNS = ("subject_id", "name", "kind", "birth_date", "region")
NAME_RULE = "1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_BATCH = 2000
_WIDTH = {"subject_id": 200, "kind": 40, "birth_date": 40, "region": 40}


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ScreenInputError(f"--save: {name!r}: {NAME_RULE}")
    return name


def stored_key(key: str) -> str:
    """A key as the index stores it: long ones (a long name's) as a digest, within the column's 200."""
    if len(key) <= 190:
        return key
    return "~" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def outcome_of(status: str, matches: list[dict[str, Any]]) -> str:
    """What a run compares: the matched subjects and, with an action, each one's answer."""
    if status not in ("hit", "possible_match"):
        return "[]"
    out = []
    for m in matches:
        d = m.get("decision")
        out.append(
            [m["subject_id"], None if d is None else bool(d["allowed"]), [] if d is None else d["effects"]]
        )
    return json.dumps(sorted(out), ensure_ascii=False)


@dataclass
class WatchRow:
    row: int
    fields: dict[str, str | None]
    status: str
    score: float | None
    outcome: str


def row_keys(fields: dict[str, str | None], status: str, matches: list[dict[str, Any]]) -> set[str]:
    """The row's keys in the reverse index (none for an invalid row: its key columns never become valid)."""
    if status == "invalid":
        return set()
    keys = {"#" + m["subject_id"] for m in matches}
    sid = fields.get("subject_id")
    if sid is not None:
        guess = canonical_guess(pl.Series([sid], dtype=pl.String)).item()
        keys.add("#" + str(guess))
        return keys
    f: dict[str, list[str | None]] = {k: [v] for k, v in fields.items() if v is not None}
    q = _name_query(f, 0)
    if not isinstance(q, str):
        keys.update(lookup_keys(q))
    return keys


@dataclass
class Collected:
    """What ``screen_file`` hands a save, chunk by chunk (its ``rows`` callback)."""

    rows: list[WatchRow] = field(default_factory=list)
    keys: list[tuple[str, int]] = field(default_factory=list)

    def __call__(self, c: Chunk, added: Added) -> None:
        status, scores, matches, _ = added
        absent: list[str | None] = [None] * len(c)
        cols = {k: c.fields.get(k, absent) for k in KEY_COLUMNS}
        for i in range(len(c)):
            n = len(self.rows) + 1
            fields = {k: cols[k][i] for k in KEY_COLUMNS}
            self.rows.append(WatchRow(n, fields, status[i], scores[i], outcome_of(status[i], matches[i])))
            self.keys.extend((stored_key(k), n) for k in row_keys(fields, status[i], matches[i]))


def get_watch(conn: Connection, name: str, owner: str) -> dict[str, Any]:
    """The saved screening ``name`` of ``owner``; a LookupError when there is none (or it is another's)."""
    row = conn.execute(
        select(screening_watches).where(screening_watches.c.owner == owner, screening_watches.c.name == name)
    ).first()
    if row is None:
        raise LookupError(f"no saved screening {name}")
    return dict(row._mapping)


def _insert(conn: Connection, table: Any, rows: Iterable[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    for r in rows:
        batch.append(r)
        if len(batch) >= _BATCH:
            conn.execute(insert(table), batch)
            batch = []
    if batch:
        conn.execute(insert(table), batch)


def save_watch(
    conn: Connection,
    *,
    owner: str,
    name: str,
    view: str,
    action: str | None,
    threshold: float,
    source: str,
    at: dt.datetime,
    cursor: int,
    collected: Collected,
    now: dt.datetime,
) -> str:
    """Store a screening's rows and keys under ``name``; a ScreenInputError when the owner has one so named."""
    check_name(name)
    exists = conn.execute(
        select(screening_watches.c.id).where(
            screening_watches.c.owner == owner, screening_watches.c.name == name
        )
    ).first()
    if exists is not None:
        raise ScreenInputError(f"--save: {name!r}: a saved screening of that name exists; choose another")
    wid = "sw_" + secrets.token_hex(8)
    conn.execute(
        insert(screening_watches).values(
            id=wid,
            owner=owner,
            name=name,
            view=view,
            action=action,
            threshold=threshold,
            source=source[:300],
            rows=len(collected.rows),
            cursor=cursor,
            last_at=at,
            created_at=now,
        )
    )
    _insert(
        conn,
        screening_watch_rows,
        (
            {
                "watch_id": wid,
                "row": r.row,
                # Over-long values are invalid rows (never re-scored): cut to their columns.
                **{k: (None if v is None else v[: _WIDTH.get(k)]) for k, v in r.fields.items()},
                "status": r.status,
                "score": r.score,
                "outcome": r.outcome,
            }
            for r in collected.rows
        ),
    )
    _insert(
        conn,
        screening_watch_keys,
        ({"watch_id": wid, "key": k, "row": n} for k, n in sorted(set(collected.keys))),
    )
    return wid
