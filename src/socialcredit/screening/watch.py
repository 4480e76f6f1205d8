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
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, delete, insert, select

from ..store.tables import screening_watch_keys, screening_watch_rows, screening_watches
from .by_id import canonical_guess
from .files import Chunk, ScreenInputError
from .matcher import lookup_keys
from .run import _name_query
from .writers import Added

__all__ = [
    "KEY_COLUMNS",
    "NAME_RULE",
    "Saver",
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


def row_keys(
    fields: dict[str, str | None],
    status: str,
    matches: list[dict[str, Any]],
    canonical: str | None = None,
) -> set[str]:
    """The row's keys in the reverse index (none for an invalid row: its key columns never become valid);
    ``canonical``, the canonical form of its ``subject_id`` when already computed for its chunk."""
    if status == "invalid":
        return set()
    keys = {"#" + m["subject_id"] for m in matches}
    sid = fields.get("subject_id")
    if sid is not None:
        if canonical is None:
            canonical = str(canonical_guess(pl.Series([sid], dtype=pl.String)).item())
        keys.add("#" + canonical)
        return keys
    f: dict[str, list[str | None]] = {k: [v] for k, v in fields.items() if v is not None}
    q = _name_query(f, 0)
    if not isinstance(q, str):
        keys.update(lookup_keys(q))
    return keys


class Saver:
    """A screening's rows and keys, written chunk by chunk as ``screen_file`` hands them over (its ``rows``
    callback: memory stays a chunk's) under a watch id that no saved screening names until :func:`save_watch`
    writes it, in the transaction of the run's audit entry. A failed run's rows are :meth:`discard`-ed; a
    crash leaves rows no screening names, never a half-saved screening."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.watch_id = "sw_" + secrets.token_hex(8)
        self.rows = 0

    def __call__(self, c: Chunk, added: Added) -> None:
        status, scores, matches, _ = added
        n = len(c)
        absent: list[str | None] = [None] * n
        cols = {k: c.fields.get(k, absent) for k in KEY_COLUMNS}
        canon = canonical_guess(pl.Series(cols["subject_id"], dtype=pl.String)).to_list()
        rows: list[dict[str, Any]] = []
        keys: list[dict[str, Any]] = []
        for i in range(n):
            row = self.rows + i + 1
            fields = {k: cols[k][i] for k in KEY_COLUMNS}
            rows.append(
                {
                    "watch_id": self.watch_id,
                    "row": row,
                    # Over-long values are invalid rows (never re-scored): cut to their columns.
                    **{k: (None if v is None else v[: _WIDTH.get(k)]) for k, v in fields.items()},
                    "status": status[i],
                    "score": scores[i],
                    "outcome": outcome_of(status[i], matches[i]),
                }
            )
            got = row_keys(fields, status[i], matches[i], canon[i])
            keys.extend(
                {"watch_id": self.watch_id, "key": k, "row": row} for k in {stored_key(k) for k in got}
            )
        with self.engine.begin() as conn:
            _insert(conn, screening_watch_rows, rows)
            _insert(conn, screening_watch_keys, keys)
        self.rows += n

    def discard(self) -> None:
        with self.engine.begin() as conn:
            for t in (screening_watch_rows, screening_watch_keys):
                conn.execute(delete(t).where(t.c.watch_id == self.watch_id))


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
    saver: Saver,
    now: dt.datetime,
) -> str:
    """Name the rows ``saver`` wrote as the screening ``name``; a ScreenInputError when the owner has one so
    named (the unique constraint refuses a race)."""
    check_name(name)
    exists = conn.execute(
        select(screening_watches.c.id).where(
            screening_watches.c.owner == owner, screening_watches.c.name == name
        )
    ).first()
    if exists is not None:
        raise ScreenInputError(f"--save: {name!r}: a saved screening of that name exists; choose another")
    conn.execute(
        insert(screening_watches).values(
            id=saver.watch_id,
            owner=owner,
            name=name,
            view=view,
            action=action,
            threshold=threshold,
            source=source[:300],
            rows=saver.rows,
            cursor=cursor,
            last_at=at,
            created_at=now,
        )
    )
    return saver.watch_id
