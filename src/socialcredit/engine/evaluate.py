"""Turning entries into a Decision, and answering straight from the store (``known_at``, old ``as_of``, CLI).

Both the index and the store path end in :func:`decide`, so an answer never depends on where the entries came
from. The store path builds entries from the record states the registry held at ``known_at``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, Engine, select

from ..catalogue import Catalogue
from ..identifiers import parse
from ..registry import RecordState, states_for_subject
from ..store.tables import subjects
from .decision import EFFECT_ORDER, Decision, Reason, UnknownAction, withheld_note
from .graded import add_grades, graded_actions
from .index import INF, Entry, reached, timestamp
from .rules import MeasureRef, Rules, compile_rules

__all__ = ["aware", "clean", "decide", "end_instant", "entries_from_states", "evaluate", "from_store"]

_new = object.__new__
_set = object.__setattr__
UTC = dt.UTC


def aware(value: dt.datetime, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{name}: expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: {value.isoformat()} has no time zone; pass an aware datetime")
    return value


_CLEAN: dict[str, object] = {
    "subject": "",
    "known": True,
    "action": "",
    "as_of": None,
    "allowed": True,
    "effects": (),
    "reasons": (),
    "catalogue_version": "",
    "notes": (),
}


def clean_fields(action: str, as_of: dt.datetime, version: str) -> dict[str, object]:
    """The fields of a clean decision (allowed, no reasons) for a known subject, the subject left blank: a
    template for batches, which copy it per query."""
    return {**_CLEAN, "action": action, "as_of": as_of, "catalogue_version": version}


def clean(subject: str, known: bool, action: str, as_of: dt.datetime, version: str) -> Decision:
    """An allowed decision with no reasons, built without the frozen ``__init__`` (hot path: a copy of a
    template dict given to the instance is about a third faster than filling its dict by keywords)."""
    d = _new(Decision)
    dd = _CLEAN.copy()
    dd["subject"] = subject
    dd["known"] = known
    dd["action"] = action
    dd["as_of"] = as_of
    dd["catalogue_version"] = version
    _set(d, "__dict__", dd)
    return d


_UNTIL: dict[float, dt.datetime | None] = {INF: None}


def _until(ts: float) -> dt.datetime | None:
    """The datetime of an end instant; ends are few (mostly day boundaries), so they are kept."""
    hit = _UNTIL.get(ts, _UNTIL)
    if hit is _UNTIL:
        if len(_UNTIL) > 100_000:
            _UNTIL.clear()
            _UNTIL[INF] = None
        hit = _UNTIL[ts] = dt.datetime.fromtimestamp(ts, UTC)
    return hit  # type: ignore[return-value]


end_instant = _until  # for batch views (engine/batch.py), which show an entry's end without a Reason


def _reason(e: Entry, r: MeasureRef, until: dt.datetime | None, withheld: bool) -> Reason:
    """One reason, its instance dict given whole (several times faster than the dataclass init)."""
    rule = e.rule
    reason = _new(Reason)
    _set(
        reason,
        "__dict__",
        {
            "record_id": e.record_id,
            "category": rule.category,
            "memorandum": r.memorandum,
            "measure": r.measure,
            "department": r.department,
            "effect": r.effect,
            "legal_basis": r.legal_basis,
            "valid_until": until,
            "via": rule.via,
            "via_subject": e.via_subject,
            "withheld": withheld,
            "authority": e.authority,
        },
    )
    return reason


def _listed(
    subject: str,
    action: str,
    as_of: dt.datetime,
    allowed: bool,
    effects: tuple[str, ...],
    reasons: tuple[Reason, ...],
    version: str,
    notes: tuple[str, ...],
) -> Decision:
    """A decision with reasons for a subject the index reaches (so known), its dict given whole."""
    d = _new(Decision)
    _set(
        d,
        "__dict__",
        {
            "subject": subject,
            "known": True,
            "action": action,
            "as_of": as_of,
            "allowed": allowed,
            "effects": effects,
            "reasons": reasons,
            "catalogue_version": version,
            "notes": notes,
        },
    )
    return d


def decide(
    subject: str, action: str, as_of: dt.datetime, t: float, entries: Sequence[Entry], version: str
) -> Decision:
    """The decision for a subject reached by ``entries`` (so ``known``), at instant ``t`` (``as_of``)."""
    if len(entries) == 1:  # the common case, without the general bookkeeping
        e = entries[0]
        if not (e.start <= t < e.until) or (e.pauses and any(a <= t < b for a, b in e.pauses)):
            return clean(subject, True, action, as_of, version)
        rule = e.rule
        sole = rule.sole.get(action)
        if sole is not None:
            until = _until(e.until)
            only: list[Reason] = []
            for r in rule.by_action[action]:
                only.append(_reason(e, r, until, False))
            return _listed(subject, action, as_of, sole[1], sole[0], tuple(only), version, ())
        if action not in rule.by_action:
            return clean(subject, True, action, as_of, version)
    hits: list[tuple[Entry, tuple[MeasureRef, ...]]] = []
    black: Entry | None = None
    for e in entries:
        if e.start <= t < e.until and (not e.pauses or not any(a <= t < b for a, b in e.pauses)):
            rule = e.rule
            if rule.black and (black is None or e.record_id < black.record_id):
                black = e
            refs = rule.by_action.get(action)
            if refs:
                hits.append((e, refs))
    if not hits:
        return clean(subject, True, action, as_of, version)
    reasons: list[Reason] = []
    effects: set[str] = set()
    withheld_any = False
    for e, refs in hits:
        rule = e.rule
        until = _until(e.until)
        for r in refs:
            withheld = black is not None and r.effect == "expedite"
            reasons.append(_reason(e, r, until, withheld))
            if withheld:
                withheld_any = True
            else:
                effects.add(r.effect)
    notes: tuple[str, ...] = ()
    if withheld_any and black is not None:
        notes = (withheld_note(black.record_id, black.rule.category),)
    return _listed(
        subject,
        action,
        as_of,
        "deny" not in effects,
        tuple(x for x in EFFECT_ORDER if x in effects),
        tuple(reasons),
        version,
        notes,
    )


def entries_from_states(states: Iterable[RecordState], subject: str, rules: Rules) -> list[Entry]:
    """The index entries ``states`` give ``subject`` (sorted by record, then reach)."""
    out: list[Entry] = []
    for st in states:
        until = timestamp(st.valid_until)
        pauses = tuple((timestamp(a), timestamp(b)) for a, b in st.suspensions)
        for person, via in reached(st):
            if person != subject:
                continue
            rule = rules.rule(st.category, via)
            if rule is not None:
                out.append(
                    Entry(
                        st.id,
                        rule,
                        st.applies_from.timestamp(),
                        until,
                        pauses,
                        None if via == "subject" else st.subject_id,
                        st.authority,
                    )
                )
    out.sort(key=Entry.key)
    return out


def from_store(
    conn: Connection,
    rules: Rules,
    subject: str,
    action: str,
    as_of: dt.datetime,
    known_at: dt.datetime | None,
) -> Decision:
    """The decision from record states as the registry knew them at ``known_at`` (None: now).

    ``subject`` is canonical and ``action`` in the vocabulary: callers check both first.
    """
    states = states_for_subject(conn, subject, known_at=known_at)
    entries = entries_from_states(states, subject, rules)
    if states:
        return decide(subject, action, as_of, as_of.timestamp(), entries, rules.version)
    q = select(subjects.c.id).where(subjects.c.id == subject)
    if known_at is not None:
        q = q.where(subjects.c.created_at <= known_at)
    known = conn.execute(q).first() is not None
    return clean(subject, known, action, as_of, rules.version)


def evaluate(
    engine: Engine,
    catalogue: Catalogue | Rules,
    queries: Sequence[tuple[str, str]],
    as_of: dt.datetime | None = None,
    known_at: dt.datetime | None = None,
    allowlist: frozenset[str] = frozenset(),
) -> list[Decision]:
    """Answer ``queries`` from the store alone, without building an index (one-off checks: the CLI).

    Given a Catalogue, the queries of a graded action get their grades as ``Checker.check`` does
    (engine/graded.py); given only Rules (which hold no models) they are answered from records alone."""
    rules = catalogue if isinstance(catalogue, Rules) else compile_rules(catalogue)
    for _, action in queries:
        if action not in rules.actions:
            raise UnknownAction(action)
    as_of = dt.datetime.now(UTC) if as_of is None else aware(as_of, "as_of")
    if known_at is not None:
        aware(known_at, "known_at")
    canon = [parse(s, allowlist).canonical for s, _ in queries]
    with engine.connect() as conn:
        made = [
            from_store(conn, rules, sid, rules.actions[a], as_of, known_at)
            for sid, (_, a) in zip(canon, queries, strict=True)
        ]
        if isinstance(catalogue, Rules):
            return made
        return add_grades(conn, catalogue, graded_actions(catalogue), allowlist, made, known_at)
