"""The in-memory index: subject -> the records reaching it, with their validity as plain floats.

Layout, chosen for memory (at most 300 bytes per active record) and speed:

* ``entries[subject]`` is one :class:`Entry`, or a tuple of them sorted by (record, reach) when several
  records reach the subject; the common single-record case spends no tuple.
* an entry holds the record id, the shared :class:`~.rules.Rule` of its (category, reach), the instants it
  applies from and until (POSIX seconds; ``inf`` for no end), its suspensions, and for a linked person the
  organisation whose record reaches them. Equal instants share one float object.
* ``known`` holds every subject of the ``subjects`` table and every subject an event has reached.
* ``table`` holds both again as arrays, for batches of checks (engine/table.py); the dict and set stay the
  reference that single checks use and that the table defers to.

Writers never mutate a stored value: each subject's value is replaced whole, so a check running in another
thread sees the old value or the new, never half of a change.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import math
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, func, or_, select

from ..registry import RecordState
from ..store.tables import record_events, records, subjects
from .rules import REACHES, Rule, Rules
from .table import SubjectTable

__all__ = [
    "INF",
    "Entry",
    "Index",
    "RecordFields",
    "as_tuple",
    "bulk",
    "reached",
    "states_before",
    "timestamp",
]

INF = math.inf
_VIA_RANK = {v: i for i, v in enumerate(REACHES)}


@contextmanager
def bulk(freeze: bool = False) -> Iterator[None]:
    """Making an index: millions of new objects, none of them in a cycle. The cyclic collector's full passes
    over the growing heap would make building and loading grow faster than the data (issue 20: 6.5x for 5x),
    so it is off meanwhile. With ``freeze``, what was made is frozen on success (gc.freeze): the next full pass
    would walk it all once more (about a second at 10^6 records), and every later one again, for nothing;
    frozen objects are still freed by reference counting as the index replaces its values. Only for a load
    that makes no cycles (a snapshot's): a garbage cycle frozen with the rest is never collected, and a build
    from the store goes through SQLAlchemy, which makes some."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
        if freeze:
            gc.freeze()
    finally:
        if was:
            gc.enable()


def timestamp(value: dt.datetime | None, absent: float = INF) -> float:
    """POSIX seconds. Exact for comparisons: microsecond instants of this era map to distinct floats."""
    return absent if value is None else value.timestamp()


class Entry:
    """One record reaching one subject in one role."""

    __slots__ = ("authority", "pauses", "record_id", "rule", "start", "until", "via_subject")

    def __init__(
        self,
        record_id: int,
        rule: Rule,
        start: float,
        until: float,
        pauses: tuple[tuple[float, float], ...],
        via_subject: str | None,
        authority: str = "",
    ) -> None:
        self.record_id = record_id
        self.rule = rule
        self.start = start
        self.until = until
        self.pauses = pauses
        self.via_subject = via_subject
        # The filing authority: a registrar sees its own records' reasons whole (api/views.py).
        self.authority = authority

    def key(self) -> tuple[int, int]:
        return (self.record_id, _VIA_RANK[self.rule.via])

    def applies(self, t: float) -> bool:
        """registry.state.applies_at, on floats."""
        if not (self.start <= t < self.until):
            return False
        return not any(a <= t < b for a, b in self.pauses)

    def dump(self) -> tuple[object, ...]:
        """A plain, comparable form (tests compare a fresh build with an incrementally refreshed index)."""
        return (
            self.record_id,
            self.rule.category,
            self.rule.via,
            self.start,
            self.until,
            self.pauses,
            self.via_subject,
            self.authority,
        )

    def __repr__(self) -> str:
        return (
            f"Entry({self.record_id}, {self.rule.category}/{self.rule.via}, {self.start}, {self.until}, "
            f"{self.pauses}, {self.via_subject})"
        )


Value = Entry | tuple[Entry, ...]
# What the index needs of a record's state to place it, in this order: category, subject, legal representative,
# actual controller, start and until (POSIX seconds, ``inf`` for no end), pauses, authority. A plain tuple: the
# build makes one per record, and a NamedTuple costs several times as much to make.
RecordFields = tuple[str, str, str | None, str | None, float, float, tuple[tuple[float, float], ...], str]


def reached(state: RecordState) -> list[tuple[str, str]]:
    """(subject, reach) pairs a record reaches: its subject, then linked persons."""
    return [(state.subject_id, "subject"), *((p, role) for p, role in state.linked())]


def _pauses(raw: str | None, share: dict[float, float]) -> tuple[tuple[float, float], ...]:
    if not raw or raw == "[]":
        return ()
    out = []
    for a, b in json.loads(raw):
        fa = timestamp(dt.datetime.fromisoformat(a))
        fb = timestamp(dt.datetime.fromisoformat(b) if b else None)
        out.append((share.setdefault(fa, fa), share.setdefault(fb, fb)))
    return tuple(out)


class Index:
    """The entries and the known subjects; built in bulk from the store, then replaced per subject."""

    def __init__(self, rules: Rules, cutoff: float = -INF) -> None:
        self.rules = rules
        self.entries: dict[str, Value] = {}
        self.known: set[str] = set()
        # Records that ended at or before ``cutoff`` are left out; checks before it go to the store.
        self.cutoff = cutoff
        self._share: dict[float, float] = {}
        self.table: SubjectTable | None = None

    # -- building --------------------------------------------------------------------------------------------

    def _entries_for(self, rid: int, fields: RecordFields) -> Iterator[tuple[str, Entry]]:
        category, subject, rep, ctl, start, until, pauses, authority = fields
        if until <= self.cutoff:
            return
        share = self._share
        if len(share) > 200_000:  # refreshes add instants for good: keep the map bounded
            share.clear()
        start = share.setdefault(start, start)
        until = share.setdefault(until, until)
        authority = sys.intern(authority)  # a few codes, shared by every entry
        for person, via in ((subject, "subject"), (rep, "legal_representative"), (ctl, "actual_controller")):
            if person is None:
                continue
            rule = self.rules.by_key.get((category, via))
            if rule is not None:
                yield (
                    person,
                    Entry(rid, rule, start, until, pauses, None if via == "subject" else subject, authority),
                )

    def _put(self, subject: str, entry: Entry) -> None:
        old = self.entries.get(subject)
        if old is None:
            self.entries[subject] = entry
        else:
            self.entries[subject] = _sorted((*(old if isinstance(old, tuple) else (old,)), entry))

    def build(self, conn: Connection, batch: int = 20_000) -> int:
        """Load every record still in force after ``cutoff`` from the projection; returns the seq it reflects.

        The sequence number is read first: the projection may be newer, never older, and replaying events
        past it (refresh) is idempotent, so no change is lost.
        """
        with bulk():
            return self._build(conn, batch)

    def _build(self, conn: Connection, batch: int) -> int:
        last_seq = int(conn.execute(select(func.coalesce(func.max(record_events.c.seq), 0))).scalar_one())
        c = records.c
        q = select(
            c.id,
            c.authority,
            c.category,
            c.subject_id,
            c.legal_representative_id,
            c.actual_controller_id,
            c.applies_from,
            c.effective_until,
            c.ended_at,
            c.suspensions,
        )
        if self.cutoff > -INF:
            cut = dt.datetime.fromtimestamp(self.cutoff, dt.UTC)
            q = q.where(
                or_(c.ended_at.is_(None), c.ended_at > cut),
                or_(c.effective_until.is_(None), c.effective_until > cut),
            )
        share = self._share
        result = conn.execution_options(yield_per=batch).execute(q)
        # By partitions (one fetchmany each), not row by row through the result's per-row fetch.
        for part in result.partitions():
            for rid, authority, category, subject, rep, ctl, applies_from, eff_until, ended_at, susp in part:
                until = timestamp(eff_until)
                if ended_at is not None:
                    until = min(until, ended_at.timestamp())
                pauses = _pauses(susp, share)
                for person, entry in self._entries_for(
                    rid, (category, subject, rep, ctl, applies_from.timestamp(), until, pauses, authority)
                ):
                    self._put(person, entry)
        known = self.known
        for ids in (
            conn.execution_options(yield_per=batch).execute(select(subjects.c.id)).scalars().partitions()
        ):
            known.update(ids)
        self._share = {}  # sharing at build is what matters; do not keep the map alive
        self.table = SubjectTable(self.rules, self.entries, known)
        return last_seq

    # -- incremental -----------------------------------------------------------------------------------------

    def replace(self, finals: dict[int, RecordState], touched: dict[int, set[str]]) -> None:
        """Make each record of ``finals`` reach exactly what its final state reaches.

        ``touched[record]`` lists every subject the record may currently reach in the index (its earlier
        states' subjects and links); its entries there are dropped and the final state's added.
        """
        drop: dict[str, set[int]] = {}
        add: dict[str, list[Entry]] = {}
        for rid, st in finals.items():
            self._plan(
                drop,
                add,
                rid,
                (*touched.get(rid, ()), *(sid for sid, _ in reached(st))),
                (
                    st.category,
                    st.subject_id,
                    st.legal_representative_id,
                    st.actual_controller_id,
                    st.applies_from.timestamp(),
                    timestamp(st.valid_until),
                    tuple((timestamp(a), timestamp(b)) for a, b in st.suspensions),
                    st.authority,
                ),
            )
        self._commit(drop, add)

    def place(
        self,
        rid: int,
        previous: Iterable[str],
        fields: RecordFields,
        *,
        table_changes: dict[str, Value | None] | None = None,
    ) -> tuple[str, ...]:
        """Make one record reach exactly what this state of it reaches, in O(its subjects): how a check node
        applies an event whose state came with it (node/follow.py) instead of from the store.

        ``previous``: the subjects the record has entries for now (the node keeps them). Returns the subjects
        it has entries for afterwards. ``table_changes``: collect the subject table's changes there, for one
        :meth:`set_table` after many events (the table's update costs far more than the dict's), instead of
        updating it now; until then batches must not run (a node applies a fetched batch with no await)."""
        drop: dict[str, set[int]] = {}
        add: dict[str, list[Entry]] = {}
        subject, rep, ctl = fields[1:4]
        named = (*previous, subject, *(p for p in (rep, ctl) if p))
        self._plan(drop, add, rid, named, fields)
        self._commit(drop, add, table_changes)
        return tuple(add)

    def set_table(self, changes: dict[str, Value | None]) -> None:
        """Bring the subject table to the values :meth:`place` collected in ``changes``."""
        if self.table is not None and changes:
            self.table.set(changes)

    def _plan(
        self,
        drop: dict[str, set[int]],
        add: dict[str, list[Entry]],
        rid: int,
        named: Iterable[str],
        fields: RecordFields,
    ) -> None:
        for sid in named:
            drop.setdefault(sid, set()).add(rid)
            self.known.add(sid)  # every subject an event ever named is in the subjects table
        for person, entry in self._entries_for(rid, fields):
            add.setdefault(person, []).append(entry)

    def _commit(
        self,
        drop: dict[str, set[int]],
        add: dict[str, list[Entry]],
        collect: dict[str, Value | None] | None = None,
    ) -> None:
        changes: dict[str, Value | None] = {}
        for sid, rids in drop.items():
            old = self.entries.get(sid)
            kept = [] if old is None else [e for e in as_tuple(old) if e.record_id not in rids]
            new = kept + add.get(sid, [])
            if new:
                value = self.entries[sid] = new[0] if len(new) == 1 else _sorted(new)  # one store: atomic
                changes[sid] = value
            else:
                if old is not None:
                    self.entries.pop(sid, None)
                changes[sid] = None
        if collect is not None:
            collect.update(changes)
        elif self.table is not None:
            self.table.set(changes)

    def values_for(self, subject: str) -> tuple[Entry, ...]:
        value = self.entries.get(subject)
        return () if value is None else as_tuple(value)

    def dump(self) -> dict[str, tuple[tuple[object, ...], ...]]:
        return {sid: tuple(e.dump() for e in as_tuple(v)) for sid, v in self.entries.items()}


def as_tuple(value: Value) -> tuple[Entry, ...]:
    """The entries of an index value (one Entry, or a tuple of them)."""
    return value if isinstance(value, tuple) else (value,)


def _sorted(entries: Iterable[Entry]) -> tuple[Entry, ...]:
    return tuple(sorted(entries, key=Entry.key))


def states_before(conn: Connection, record_ids: Iterable[int], seq: int) -> Iterator[RecordState]:
    """Each record's newest state at or before event ``seq``: what the index reflects for it."""
    ids = sorted(record_ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        newest = (
            select(func.max(record_events.c.seq))
            .where(record_events.c.record_id.in_(chunk), record_events.c.seq <= seq)
            .group_by(record_events.c.record_id)
        )
        for (body,) in conn.execute(select(record_events.c.state).where(record_events.c.seq.in_(newest))):
            yield RecordState.from_json(body)
