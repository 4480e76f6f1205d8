"""Measures conditioned on a grade, merged into decisions (decision 1003, "Every path").

The index holds records, not grades: a grade is computed from all a subject's own records (``grading``). So
the Checker answers from the index first, as for every action, and only for an action a grade-conditioned
measure covers (``graded_actions``: empty for every action but ``inspection.random`` in the shipped catalogue)
are the subjects' grades read from the store and each measure whose grades the subject's grade is one of added
as a reason (``Reason.grade`` set), ``effects`` and ``allowed`` recomputed. Single checks, batches, the store
path (``known_at``, the CLI's ``evaluate``) and screening all end here, so a graded action gets one answer
whichever route asks.

Within one call each subject's records are read once and each (subject, model) graded once, however many of
the queries name it. A grade's reward is withheld while a black-list record about the subject itself is in
force, as a red list's is (a record reaching it only as a linked person does not withhold it).
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Sequence

from sqlalchemy import Connection

from ..catalogue import Catalogue
from ..catalogue.model import Measure, Memorandum
from ..grading.explain import GradingRefused, choose_model, grade_states
from ..identifiers import IdentifierError, parse
from ..registry import RecordState, applies_at
from ..registry.projection import states_for_subject, states_of_subjects
from .decision import EFFECT_ORDER, Decision, Reason, withheld_note

__all__ = ["GradedOn", "add_grades", "graded_actions", "merge"]

# Per action code, the grade-conditioned measures covering it.
GradedOn = dict[str, tuple[tuple[Memorandum, Measure], ...]]


def graded_actions(catalogue: Catalogue) -> GradedOn:
    """The actions of ``catalogue`` that a grade-conditioned measure covers, each with those measures."""
    return {a: hits for a in catalogue.actions if (hits := catalogue.graded_on(a))}


class _Graded:
    """One subject's grades and black-list state at one instant, computed on first use."""

    def __init__(
        self,
        catalogue: Catalogue,
        subject: str,
        kind: str,
        states: list[RecordState],
        as_of: dt.datetime,
        known_at: dt.datetime | None,
        clean: dict[tuple[str, str], str | None],
    ) -> None:
        # ``clean``: per (model, kind), the grade of a subject without records (most of a batch), shared
        # by the call's subjects so it is computed once.
        self._clean = clean
        self.catalogue = catalogue
        self.subject = subject
        self.kind = kind
        self.as_of = as_of
        self.known_at = known_at
        self.states = states
        cats = catalogue.categories
        # The subject's own black-list record in force with the lowest id: the one a withheld reward's note
        # names, as the index path and the reference name it.
        in_force = [
            s
            for s in states
            if s.subject_id == subject
            and s.category in cats
            and cats[s.category].list == "black"
            and applies_at(s, as_of)
        ]
        self.black_record: RecordState | None = min(in_force, key=lambda s: s.id) if in_force else None
        self._grades: dict[str, str | None] = {}

    def grade(self, model_code: str) -> str | None:
        """The subject's grade under ``model_code``; None where the model does not grade it (a model of the
        other kind; a person under one that is not reward-only)."""
        if not self.states and (model_code, self.kind) in self._clean:
            return self._clean[model_code, self.kind]
        if model_code not in self._grades:
            try:
                model = choose_model(self.catalogue, model_code, self.kind)
            except GradingRefused:
                self._grades[model_code] = None
            else:
                g = grade_states(model, self.catalogue, self.subject, self.states, self.as_of, self.known_at)
                self._grades[model_code] = g.grade
            if not self.states:
                self._clean[model_code, self.kind] = self._grades[model_code]
        return self._grades[model_code]


def _reasons(graded: _Graded, measures: tuple[tuple[Memorandum, Measure], ...]) -> list[Reason]:
    out: list[Reason] = []
    for memo, m in measures:
        cond = m.grade_condition
        assert cond is not None  # graded_on holds only these
        letter = graded.grade(cond.model)
        if letter is None or letter not in cond.grades:
            continue
        out.append(
            Reason(
                record_id=0,
                category="",
                memorandum=memo.code,
                measure=m.code,
                department=m.department,
                effect=m.effect,
                legal_basis=m.legal_basis,
                valid_until=None,  # the grade holds until the records behind it change
                via="subject",
                via_subject=None,
                withheld=graded.black_record is not None and m.effect == "expedite",
                grade=(cond.model, letter),
            )
        )
    return out


def merge(d: Decision, reasons: Sequence[Reason], black: RecordState | None = None) -> Decision:
    """``d`` with the grade's ``reasons`` after its own, its effects and ``allowed`` recomputed (a withheld
    reward adds no effect; a ``deny`` on a grade denies). A grade's reward withheld says so in the notes, naming
    ``black``, the black-list record in force, as a red list's withheld reward does (once, if both are)."""
    if not reasons:
        return d
    effects = set(d.effects) | {r.effect for r in reasons if not r.withheld}
    notes = d.notes
    if black is not None and any(r.withheld for r in reasons):
        note = withheld_note(black.id, black.category)
        if note not in notes:
            notes = (*notes, note)
    return Decision(
        d.subject,
        d.known,
        d.action,
        d.as_of,
        "deny" not in effects,
        tuple(e for e in EFFECT_ORDER if e in effects),
        (*d.reasons, *reasons),
        d.catalogue_version,
        notes,
    )


def add_grades(
    conn: Connection,
    catalogue: Catalogue,
    graded_on: GradedOn,
    allowlist: frozenset[str],
    decisions: Sequence[Decision],
    known_at: dt.datetime | None,
) -> list[Decision]:
    """Each decision of a graded action with its grade's measures merged in (the others as they are).

    A subject the registry does not know has no record, so no grade (the decision says ``known: false``).
    Current knowledge reads the records of every subject at once (``states_of_subjects``); ``known_at``, a
    registrar's rare question, reads each subject's history as the single check does."""
    asked = [d for d in decisions if d.known and d.action in graded_on]
    if not asked:
        return list(decisions)
    # The new decisions, states and grades hold no cycles, yet their allocations would make the cyclic
    # collector scan the whole index again and again (most of a batch's time when measured): paused for the
    # call, as ``Decisions._fill`` does.
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return _add(conn, catalogue, graded_on, allowlist, decisions, asked, known_at)
    finally:
        if paused:
            gc.enable()


def _add(
    conn: Connection,
    catalogue: Catalogue,
    graded_on: GradedOn,
    allowlist: frozenset[str],
    decisions: Sequence[Decision],
    asked: list[Decision],
    known_at: dt.datetime | None,
) -> list[Decision]:
    if known_at is None:
        states = states_of_subjects(conn, dict.fromkeys(d.subject for d in asked))
    else:
        states = {
            s: states_for_subject(conn, s, known_at=known_at, linked=False)
            for s in dict.fromkeys(d.subject for d in asked)
        }
    subjects: dict[tuple[str, dt.datetime], _Graded | None] = {}
    clean: dict[tuple[str, str], str | None] = {}
    out: list[Decision] = []
    for d in decisions:
        measures = graded_on.get(d.action)
        if not measures or not d.known:
            out.append(d)
            continue
        key = (d.subject, d.as_of)
        if key not in subjects:
            try:
                kind = parse(d.subject, allowlist).kind
            except IdentifierError:  # canonical already; kept as a guard, never a 5xx
                subjects[key] = None
            else:
                subjects[key] = _Graded(
                    catalogue, d.subject, kind, states[d.subject], d.as_of, known_at, clean
                )
        graded = subjects[key]
        out.append(d if graded is None else merge(d, _reasons(graded, measures), graded.black_record))
    return out
