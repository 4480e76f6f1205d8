"""The Checker: builds the index from the store, follows record events, and answers checks.

Where an answer comes from:

* current knowledge (``known_at`` None) at an ``as_of`` after the index's cutoff: the in-memory index;
* ``known_at`` given: the store, from the record events recorded at or before it (bitemporal, exact);
* ``as_of`` before the cutoff (records that ended long ago are not kept in memory): the store.

No scheduler is involved: every record carries the instants it applies from and until, and the check compares.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from operator import itemgetter
from time import time as _time

import numpy as np
from sqlalchemy import Engine, select

from ..catalogue import Catalogue
from ..identifiers import parse
from ..registry import RecordState
from ..store.tables import record_events
from .batch import Decisions, answer
from .decision import Decision, UnknownAction
from .evaluate import aware, clean, decide, from_store
from .graded import GradedOn, add_grades, graded_actions
from .index import INF, Index, reached, states_before
from .rules import Rules, compile_rules

__all__ = ["Checker"]

UTC = dt.UTC
_now = dt.datetime.now
_at = dt.datetime.fromtimestamp
_second = itemgetter(1)
_CANON_CACHE = 65_536


class Checker:
    """Answers ``check(subject, action, as_of, known_at)`` from an index compiled from the store."""

    last_seq: int

    def __init__(
        self,
        engine: Engine,
        catalogue: Catalogue,
        *,
        history: dt.timedelta | None = dt.timedelta(days=366),
        allowlist: frozenset[str] | None = None,
        prebuilt: tuple[Index, int] | None = None,
    ) -> None:
        """Build the index from the store.

        ``history``: records that ended longer ago than this are not kept in memory, and checks with an
        ``as_of`` before ``now - history`` are answered from the store; None keeps every record.
        ``allowlist``: pilot-era codes accepted by identifier parsing (default: the settings').
        ``prebuilt``: an index and the event sequence it reflects, made elsewhere (a snapshot,
        ``socialcredit.node.load_snapshot``) for this catalogue: used as it is instead of a build; its cutoff
        is the one it was made with.
        """
        self.engine = engine
        self.catalogue = catalogue
        self.rules: Rules = compile_rules(catalogue) if prebuilt is None else prebuilt[0].rules
        if allowlist is None:
            from ..settings import get_settings

            allowlist = get_settings().allowlisted_codes()
        self.allowlist = allowlist
        self._history = history
        self._lock = threading.Lock()
        self._canon: dict[str, str] = {}
        # The actions a grade-conditioned measure covers: their answers add the subjects' grades (read from
        # the store, engine/graded.py); every other check pays one dict lookup.
        self.graded: GradedOn = graded_actions(catalogue)
        if prebuilt is not None:
            if prebuilt[0].rules.version != catalogue.version:
                raise ValueError(
                    f"the index is of catalogue {prebuilt[0].rules.version}, not {catalogue.version}"
                )
            self.index, self.last_seq = prebuilt
            return
        self.index = Index(self.rules, self._cutoff())
        with engine.connect() as conn:
            self.last_seq = self.index.build(conn)

    def _cutoff(self) -> float:
        return -INF if self._history is None else (_now(UTC) - self._history).timestamp()

    @property
    def catalogue_version(self) -> str:
        return self.rules.version

    # -- following the registry ------------------------------------------------------------------------------

    def refresh(self) -> int:
        """Apply record events newer than ``last_seq``; returns how many were applied."""
        with self._lock:
            last = self.last_seq
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(record_events.c.seq, record_events.c.record_id, record_events.c.state)
                    .where(record_events.c.seq > last)
                    .order_by(record_events.c.seq)
                ).all()
                if not rows:
                    return 0
                finals: dict[int, RecordState] = {}
                touched: dict[int, set[str]] = {}
                for _, rid, body in rows:
                    st = RecordState.from_json(body)
                    finals[rid] = st
                    touched.setdefault(rid, set()).update(sid for sid, _ in reached(st))
                for st in states_before(conn, finals, last):
                    touched[st.id].update(sid for sid, _ in reached(st))
            self.index.replace(finals, touched)
            self.last_seq = int(rows[-1][0])
            return len(rows)

    # -- checking --------------------------------------------------------------------------------------------

    def _action(self, action: str) -> str:
        code = self.rules.actions.get(action)
        if code is None:
            raise UnknownAction(action)
        return code

    def _canonical(self, subject: str) -> str:
        hit = self._canon.get(subject)
        if hit is None:
            hit = parse(subject, self.allowlist).canonical  # IdentifierError propagates
            if len(self._canon) >= _CANON_CACHE:
                self._canon = {}
            self._canon[subject] = hit
        return hit

    def _store(self, subject: str, action: str, as_of: dt.datetime, known_at: dt.datetime | None) -> Decision:
        with self.engine.connect() as conn:
            return from_store(conn, self.rules, self._canonical(subject), action, as_of, known_at)

    def check(
        self, subject: str, action: str, as_of: dt.datetime | None = None, known_at: dt.datetime | None = None
    ) -> Decision:
        """The decision for ``subject`` doing ``action`` at ``as_of`` (default now), known at ``known_at``."""
        code = self.rules.actions.get(action)
        if code is None:
            raise UnknownAction(action)
        if as_of is None:
            as_of = _at(_time(), UTC)  # faster than datetime.now(UTC); t is then exactly as_of's
            t = as_of.timestamp()
        else:
            t = aware(as_of, "as_of").timestamp()
        index = self.index
        if known_at is not None or t < index.cutoff:
            if known_at is not None:
                aware(known_at, "known_at")
            d = self._store(subject, code, as_of, known_at)
        else:
            value = index.entries.get(subject)
            if value is None and subject in index.known:
                d = clean(subject, True, code, as_of, self.rules.version)
            else:
                if value is None:
                    subject = self._canonical(subject)
                    value = index.entries.get(subject)
                if value is None:
                    d = clean(subject, subject in index.known, code, as_of, self.rules.version)
                else:
                    d = decide(
                        subject,
                        code,
                        as_of,
                        t,
                        value if isinstance(value, tuple) else (value,),
                        self.rules.version,
                    )
        if code in self.graded:
            return self._with_grades([d], known_at)[0]
        return d

    def _with_grades(self, decisions: Sequence[Decision], known_at: dt.datetime | None) -> list[Decision]:
        """The decisions with their grade-conditioned measures merged in (reads the store: decision 1003)."""
        with self.engine.connect() as conn:
            return add_grades(conn, self.catalogue, self.graded, self.allowlist, decisions, known_at)

    def check_many(
        self,
        queries: Sequence[tuple[str, str]],
        as_of: dt.datetime | None = None,
        known_at: dt.datetime | None = None,
    ) -> Decisions:
        """Answers to many (subject, action) pairs at one instant; all actions are checked first.

        The verdicts (``allowed``, ``effects``, ``known``) of every query are computed now, as columns; each
        full Decision is built when read, exactly as ``check`` answers it at ``as_of`` (see engine/batch.py).
        The queries of a graded action get their grades as ``check`` does, each subject graded once.
        """
        rules = self.rules
        actions = rules.actions
        table = self.index.table
        act_no = None
        if table is not None:  # the actions' numbers in the table; a KeyError is an unknown action
            try:
                act_no = np.fromiter(
                    map(table.actions.__getitem__, map(_second, queries)), np.int64, len(queries)
                )
            except KeyError:
                act_no = None
        if act_no is None and not actions.keys() >= set(map(_second, queries)):
            raise UnknownAction(next(a for _, a in queries if a not in actions))
        if as_of is None:
            as_of = _now(UTC)
        t = aware(as_of, "as_of").timestamp()
        index = self.index
        if known_at is not None or t < index.cutoff:
            if known_at is not None:
                aware(known_at, "known_at")
            with self.engine.connect() as conn:
                made = [
                    from_store(conn, rules, self._canonical(s), actions[a], as_of, known_at)
                    for s, a in queries
                ]
            got = Decisions.of(made, as_of, rules.version)
        else:
            got = answer(queries, act_no, as_of, t, index, rules, self._canonical)
        if self.graded and not self.graded.keys().isdisjoint(got.actions):
            at = [i for i, a in enumerate(got.actions) if a in self.graded]
            for i, d in zip(at, self._with_grades([got[i] for i in at], known_at), strict=True):
                got.put(i, d)
        return got
