"""A check node's index as it follows the feed: a Checker on a prebuilt index, the event sequence it reflects,
and where each record has entries, so that applying one event costs O(its subjects) (decision 1102).

The API's Checker learns a record's earlier subjects from the store (``states_before``); a node has no store on
this path, so it keeps them: ``reach[record]`` is the subject (a str, the common case) or the subjects (a tuple)
the record has entries for. Records with no entries (ended before the cutoff, or of a category no measure
reaches) are absent, and need not be found: there is nothing of them to drop.

Everything here runs on the event loop that answers checks: an apply is a few dict stores, each subject's value
replaced whole (engine/index.py), so a check sees a record before an event or after it, never between.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from ..catalogue import Catalogue
from ..engine import Checker
from ..engine.index import Index, as_tuple
from .messages import RecordUpdate

__all__ = ["LiveIndex"]


class LiveIndex:
    """The Checker a node answers from, at ``checker.last_seq``; :meth:`apply` takes it one event further."""

    def __init__(self, checker: Checker, source: str) -> None:
        self.checker = checker
        self.source = source  # "snapshot FILE (seq N)" or "store (seq N)": for the logs and /readyz
        self.reach: dict[int, str | tuple[str, ...]] = _reach(checker.index)

    @classmethod
    def of(cls, engine: Engine, catalogue: Catalogue, index: Index, seq: int, source: str) -> LiveIndex:
        return cls(Checker(engine, catalogue, prebuilt=(index, seq)), source)

    @property
    def last_seq(self) -> int:
        return self.checker.last_seq

    def apply(self, u: RecordUpdate, table_changes: dict[str, Any] | None = None) -> bool:
        """Apply the event ``u`` if it is the next one (``last_seq + 1``); False (nothing done) for one already
        applied, so a replayed or duplicated message changes nothing. The caller sees to gaps.

        ``table_changes``: the batch table's changes are collected there for one :meth:`flush` after a fetched
        batch (engine/index.py ``place``); the caller runs no check in between."""
        if u.seq <= self.checker.last_seq:
            return False
        if u.seq != self.checker.last_seq + 1:
            raise ValueError(f"event {u.seq} is not the next after {self.checker.last_seq}")
        old = self.reach.get(u.record_id)
        previous = () if old is None else (old,) if isinstance(old, str) else old
        fields = (u.category, u.subject, u.rep, u.ctl, u.start, u.until, u.pauses, u.authority)
        now = self.checker.index.place(u.record_id, previous, fields, table_changes=table_changes)
        if not now:
            self.reach.pop(u.record_id, None)
        else:
            self.reach[u.record_id] = now[0] if len(now) == 1 else now
        self.checker.last_seq = u.seq
        return True

    def flush(self, table_changes: dict[str, Any]) -> None:
        self.checker.index.set_table(table_changes)
        table_changes.clear()


def _reach(index: Index) -> dict[int, str | tuple[str, ...]]:
    out: dict[int, str | tuple[str, ...]] = {}
    for sid, value in index.entries.items():
        for e in as_tuple(value):
            have = out.get(e.record_id)
            if have is None:
                out[e.record_id] = sid
            elif isinstance(have, str):
                if have != sid:
                    out[e.record_id] = (have, sid)
            elif sid not in have:
                out[e.record_id] = (*have, sid)
    return out
