"""A batch of checks as columns: every verdict computed at once, each full Decision built when it is read.

``Checker.check_many`` answers thousands of queries at one instant. Most callers act on the verdicts (allowed,
effects) and read the reasons of a few; building a frozen :class:`~.decision.Decision` with its reasons for
every query was most of the batch's cost. A :class:`Decisions` therefore holds:

* columns, computed eagerly for every query: ``subjects`` (canonical), ``actions``, ``allowed``, ``effects``
  and ``known`` (plain lists, index-aligned with the queries);
* what each decision is made from: the index value (the entries reaching the subject) captured at check time,
  or, for the rare general case (several records, red-list benefits withheld), the Decision already built.

Reading an element (``batch[i]``, iteration, ``to_list()``) builds its Decision with the same functions as
``Checker.check`` (:func:`~.evaluate.clean`, :func:`~.evaluate.decide`) and keeps it, so a second read returns
the same object. The index never mutates a value it stored (a refresh replaces each subject's value whole), so
the captured values keep every answer exactly what ``check`` would have said at the instant of the batch, even
if the index is refreshed before the decision is read. See docs/decisions/0306-columnar-batch-decisions.md.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress, repeat
from operator import is_, itemgetter, not_
from typing import Any, cast, overload

import numpy as np
import numpy.typing as npt

from .decision import Decision
from .evaluate import clean, clean_fields, decide, end_instant
from .index import Entry, Index, Value, as_tuple
from .rules import MeasureRef, Rules
from .table import GENERAL

__all__ = ["Decisions", "answer"]

_new = object.__new__
_set = object.__setattr__
_NO_EFFECTS: tuple[str, ...] = ()
_first, _second = itemgetter(0), itemgetter(1)


class _Values(Sequence["Value | None"]):
    """The index values of a batch's queries: a table's value list and the ids captured at check time."""

    __slots__ = ("_ids", "_vals")

    def __init__(self, vals: list[Any], ids: npt.NDArray[np.int64]) -> None:
        self._vals = vals
        self._ids = ids

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, i: int) -> Value | None: ...

    @overload
    def __getitem__(self, i: slice) -> _Values: ...

    def __getitem__(self, i: int | slice) -> Value | _Values | None:
        if isinstance(i, slice):
            return _Values(self._vals, self._ids[i])
        return cast("Value | None", self._vals[self._ids[i]])

    def tolist(self) -> list[Value | None]:
        return list(map(self._vals.__getitem__, self._ids.tolist()))


class Decisions(Sequence[Decision]):
    """The answers to a batch of checks at one instant: verdict columns, and Decisions built on access.

    Columns (read-only: do not mutate the lists), aligned with the queries:

    * ``subjects``: the canonical subject identifiers;
    * ``actions``: the action codes;
    * ``allowed``: whether each query is allowed (no applicable measure denies);
    * ``effects``: each query's effects, strongest first (as ``Decision.effects``);
    * ``known``: whether the registry knows each subject.

    As a sequence it holds the full :class:`Decision` of each query, equal to what ``Checker.check`` answers
    for it at ``as_of``; each is built on first access and kept. A slice is a ``Decisions`` of its own
    (sharing the decisions already built); equality with any sequence of decisions is element-wise.
    """

    __slots__ = (
        "_actions",
        "_allowed",
        "_as_of",
        "_complete",
        "_effects",
        "_known",
        "_made",
        "_subjects",
        "_t",
        "_values",
        "_version",
    )

    def __init__(
        self,
        subjects: list[str],
        actions: list[str],
        allowed: list[bool],
        effects: list[tuple[str, ...]],
        known: list[bool],
        as_of: dt.datetime,
        t: float,
        catalogue_version: str,
        values: Sequence[Value | None],
        made: list[Decision | None],
        complete: bool = False,
    ) -> None:
        """Internal: built by ``Checker.check_many`` (or :meth:`of`). ``values[i]`` is the index value
        captured for query ``i`` (None: no entries, a clean decision), ``made[i]`` its Decision if built."""
        self._subjects = subjects
        self._actions = actions
        self._allowed = allowed
        self._effects = effects
        self._known = known
        self._as_of = as_of
        self._t = t
        self._version = catalogue_version
        self._values = values
        self._made = made
        self._complete = complete  # every decision built

    @classmethod
    def of(cls, decisions: Iterable[Decision], as_of: dt.datetime, catalogue_version: str) -> Decisions:
        """A batch of decisions already built (the store path: ``known_at``, or an ``as_of`` before the
        index's cutoff)."""
        made: list[Decision | None] = list(decisions)
        done = cast(list[Decision], made)
        return cls(
            [d.subject for d in done],
            [d.action for d in done],
            [d.allowed for d in done],
            [d.effects for d in done],
            [d.known for d in done],
            as_of,
            as_of.timestamp(),
            catalogue_version,
            [None] * len(made),
            made,
            True,
        )

    # -- columns ---------------------------------------------------------------------------------------------

    @property
    def as_of(self) -> dt.datetime:
        """The instant every query was answered for."""
        return self._as_of

    @property
    def catalogue_version(self) -> str:
        """The version of the catalogue the answers come from."""
        return self._version

    @property
    def subjects(self) -> list[str]:
        """The canonical subject of each query."""
        return self._subjects

    @property
    def actions(self) -> list[str]:
        """The action code of each query."""
        return self._actions

    @property
    def allowed(self) -> list[bool]:
        """Whether each query is allowed."""
        return self._allowed

    @property
    def effects(self) -> list[tuple[str, ...]]:
        """The effects of each query, strongest first."""
        return self._effects

    @property
    def known(self) -> list[bool]:
        """Whether the registry knows each query's subject."""
        return self._known

    @property
    def denied_count(self) -> int:
        """How many queries are denied."""
        return self._allowed.count(False)

    def denied(self) -> list[int]:
        """The positions of the denied queries, in order."""
        return list(compress(range(len(self._allowed)), map(not_, self._allowed)))

    # -- decisions -------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._made)

    def _build(self, i: int) -> Decision:
        v = self._values[i]
        if v is None:
            return clean(self._subjects[i], self._known[i], self._actions[i], self._as_of, self._version)
        return decide(
            self._subjects[i],
            self._actions[i],
            self._as_of,
            self._t,
            as_tuple(v),
            self._version,
        )

    @overload
    def __getitem__(self, i: int) -> Decision: ...

    @overload
    def __getitem__(self, i: slice) -> Decisions: ...

    def __getitem__(self, i: int | slice) -> Decision | Decisions:
        if isinstance(i, slice):
            return Decisions(
                self._subjects[i],
                self._actions[i],
                self._allowed[i],
                self._effects[i],
                self._known[i],
                self._as_of,
                self._t,
                self._version,
                self._values[i],
                self._made[i],
                self._complete,
            )
        d = self._made[i]  # IndexError, TypeError as a list's
        if d is None:
            d = self._made[i] = self._build(i)
        return d

    def put(self, i: int, d: Decision) -> None:
        """Internal: query ``i``'s decision replaced by ``d`` (its grades merged in, engine/graded.py), columns
        and all. Called by ``Checker.check_many`` before the batch is returned."""
        self._made[i] = d
        self._allowed[i] = d.allowed
        self._effects[i] = d.effects

    def __iter__(self) -> Iterator[Decision]:
        if not self._complete:
            self._fill()
        return iter(cast(list[Decision], self._made))

    def to_list(self) -> list[Decision]:
        """Every Decision, built now if not yet (a new list)."""
        if not self._complete:
            self._fill()
        return list(cast(list[Decision], self._made))

    def _fill(self) -> None:
        """Build every decision not built yet, in one pass."""
        # The new decisions stay alive with the batch, so the cyclic collector would scan them again and again
        # while finding nothing (they hold no cycles): it is paused for the pass.
        paused = gc.isenabled()
        if paused:
            gc.disable()
        try:
            self._fill_columns()
            self._complete = True
        finally:
            if paused:
                gc.enable()

    def _fill_columns(self) -> None:
        made, values, subjects, actions, known = (
            self._made,
            self._values.tolist() if isinstance(self._values, _Values) else self._values,
            self._subjects,
            self._actions,
            self._known,
        )
        as_of, t, version = self._as_of, self._t, self._version
        # One template per action for the common answer, "allowed, no reasons": giving an instance a copy of
        # it as its __dict__ is several times faster than the frozen dataclass __init__.
        templates = {a: clean_fields(a, as_of, version) for a in set(actions)}
        for i in compress(range(len(made)), map(not_, made)):
            v = values[i]
            if v is None:
                d = _new(Decision)
                dd = templates[actions[i]].copy()
                dd["subject"] = subjects[i]
                if not known[i]:
                    dd["known"] = False
                _set(d, "__dict__", dd)
            else:
                d = decide(subjects[i], actions[i], as_of, t, as_tuple(v), version)
            made[i] = d

    def reason_sources(self) -> list[Decision | tuple[tuple[MeasureRef, ...], dt.datetime | None] | None]:
        """Per query, what its reasons are made of, for views that show only the measures (the checkpoint's,
        api/views.py) and need no Decision: None, no reasons; ``(refs, until)``, one entry applies and its
        rule's measures for the action are the reasons (none withheld, valid until ``until``), one tuple
        shared by every query with the same measures and end; else the Decision itself (built now if need
        be). The verdict columns give the rest of each answer."""
        made, actions, t = self._made, self._actions, self._t
        values = self._values.tolist() if isinstance(self._values, _Values) else self._values
        out: list[Decision | tuple[tuple[MeasureRef, ...], dt.datetime | None] | None] = list(made)
        shared: dict[tuple[int, float], tuple[tuple[MeasureRef, ...], dt.datetime | None]] = {}
        for i in compress(range(len(made)), values):
            if out[i] is not None:
                continue
            e = values[i]
            if e.__class__ is Entry:  # decide()'s one-entry branch, without building its reasons
                if not (e.start <= t < e.until) or (e.pauses and any(a <= t < b for a, b in e.pauses)):
                    continue  # not in force: clean
                rule, action = e.rule, actions[i]
                refs = rule.by_action.get(action)
                if refs is None:
                    continue  # no measure on this action: clean
                if action in rule.sole:
                    src = shared.get((id(refs), e.until))
                    if src is None:
                        src = shared[(id(refs), e.until)] = (refs, end_instant(e.until))
                    out[i] = src
                    continue
            out[i] = self[i]
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        if len(self) != len(other):
            return False
        return all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"<Decisions: {len(self)} checks at {self._as_of.isoformat()}, {self.denied_count} denied, "
            f"catalogue {self._version}>"
        )


def answer(
    queries: Sequence[tuple[str, str]],
    act_no: npt.NDArray[np.int64] | None,
    as_of: dt.datetime,
    t: float,
    index: Index,
    rules: Rules,
    canonical: Callable[[str], str],
) -> Decisions:
    """The verdict columns of ``queries`` at ``as_of`` (``t``), from the index.

    Every action must be in the vocabulary (the caller checks first: an unknown action raises UnknownAction);
    ``act_no`` holds their numbers in the index's subject table (None: the batch is answered per query).

    Mirrors ``Checker.check`` query by query. The index's subject table (engine/table.py) answers, in whole-batch
    array steps, every query whose subject it finds and verifies; the rest go the way ``check`` goes: a subject
    found as given in the index's dict or set was canonical when stored; any other is canonicalised
    (IdentifierError propagates) and looked up again.
    """
    n = len(queries)
    subjects = list(map(_first, queries))
    table = index.table
    if table is None or act_no is None or not n:
        acts = list(map(rules.actions.__getitem__, map(_second, queries)))  # the interned codes, as check()'s
        return _answer_per_query(subjects, acts, as_of, t, index, rules.version, canonical)
    acts = table.codes[act_no].tolist()
    try:
        with table.lock:
            rows, vids = table.lookup(subjects)
            codes = table.verdicts(vids, act_no, t)
            vals = table.values
    except (TypeError, ValueError):  # a subject that is not an ASCII str: nothing to gain, answer per query
        return _answer_per_query(subjects, acts, as_of, t, index, rules.version, canonical)
    allowed: list[bool] = table.allowed[codes].tolist()
    effects: list[tuple[str, ...]] = table.effects[codes].tolist()
    known_col: list[bool] = (rows != 0).tolist()
    made: list[Decision | None] = [None] * n
    version = rules.version
    entries, known = index.entries, index.known
    for i in np.flatnonzero(rows == 0).tolist():  # not vouched for by the table: as check() does
        s = subjects[i]
        v = entries.get(s)
        if v is None:
            if s not in known:
                s = subjects[i] = canonical(s)
                v = entries.get(s)
            if v is None:
                known_col[i] = s in known
                continue
        known_col[i] = True
        _put(made, allowed, effects, i, decide(s, acts[i], as_of, t, as_tuple(v), version))
    for i in np.flatnonzero(codes == GENERAL).tolist():
        d = _general(subjects[i], acts[i], as_of, t, vals[vids[i]], version)
        if d is not None:
            _put(made, allowed, effects, i, d)
    return Decisions(
        subjects, acts, allowed, effects, known_col, as_of, t, version, _Values(vals, vids), made
    )


def _put(
    made: list[Decision | None], allowed: list[bool], effects: list[tuple[str, ...]], i: int, d: Decision
) -> None:
    made[i] = d
    allowed[i] = d.allowed
    effects[i] = d.effects


def _answer_per_query(
    subjects: list[str],
    acts: list[str],
    as_of: dt.datetime,
    t: float,
    index: Index,
    version: str,
    canonical: Callable[[str], str],
) -> Decisions:
    """The batch query by query, from the index's dict and set (no table, or a subject it cannot hold)."""
    entries, known = index.entries, index.known
    n = len(subjects)
    values: list[Value | None] = list(map(entries.get, subjects))
    known_col = [True] * n
    # A subject without entries is known if it is in the set (building a set of the batch and testing it whole
    # is faster than testing each query: C loops, and better locality).
    if not known.issuperset(compress(subjects, map(is_, values, repeat(None)))):
        for i in compress(range(n), map(not_, map(known.__contains__, subjects))):
            if values[i] is not None:  # reached by a record: known
                continue
            s = subjects[i] = canonical(subjects[i])
            v = values[i] = entries.get(s)
            if v is None:
                known_col[i] = s in known
    allowed = [True] * n
    effects: list[tuple[str, ...]] = [_NO_EFFECTS] * n
    made: list[Decision | None] = [None] * n
    # One entry applying at t whose rule has a precomputed verdict for the action: that verdict. Anything
    # else: _general.
    for i in compress(range(n), values):
        e = values[i]
        if e.__class__ is Entry and not e.pauses and e.start <= t < e.until:
            sole = e.rule.sole.get(acts[i])
            if sole is not None:
                effects[i], allowed[i] = sole
                continue
        d = _general(subjects[i], acts[i], as_of, t, e, version)  # type: ignore[arg-type]
        if d is not None:
            _put(made, allowed, effects, i, d)
    return Decisions(subjects, acts, allowed, effects, known_col, as_of, t, version, values, made)


def _general(
    subject: str, action: str, as_of: dt.datetime, t: float, value: Value, version: str
) -> Decision | None:
    """The decision for a subject with entries outside the fast path; None when it is clean (no reasons)."""
    if isinstance(value, Entry):
        if not value.applies(t):
            return None
        rule = value.rule
        if action not in rule.by_action:
            return None
        return decide(subject, action, as_of, t, (value,), version)
    return decide(subject, action, as_of, t, value, version)
