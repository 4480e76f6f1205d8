"""A single check of an action that a grade-conditioned measure covers (decision 1003): the subject's grade
under the measure's model, computed from the store, turns the measure into a reason when the grade meets it.

The engine's index holds records, not grades, and a grade is computed from all a subject's records
(``grading``): so this runs only for the few actions such a measure covers (``Catalogue.graded_on``, one dict
lookup for every other check), in a worker thread, after the index has answered. Batches do not run it
(docs/decisions/1003: the gap).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..catalogue.model import Measure, Memorandum
from ..engine import Decision
from ..engine.decision import EFFECT_ORDER
from ..grading.explain import GradingRefused, choose_model, grade_states
from ..identifiers import IdentifierError, parse
from ..registry import applies_at
from ..registry.projection import states_for_subject
from .state import AppState

__all__ = ["GradedReasons", "apply_to_view", "graded_reasons"]


@dataclass
class GradedReasons:
    """The reasons a subject's grades add to a decision, in the checkpoint form plus the grade behind each."""

    reasons: list[dict[str, Any]] = field(default_factory=list)
    effects: set[str] = field(default_factory=set)


def graded_reasons(
    state: AppState,
    d: Decision,
    measures: tuple[tuple[Memorandum, Measure], ...],
    known_at: dt.datetime | None,
) -> GradedReasons:
    """The measures of ``measures`` whose grade condition the subject of ``d`` meets at ``d.as_of``."""
    out = GradedReasons()
    if not d.known:
        return out  # not in the registry: no record, so no grade to read (a check says ``known: false``)
    try:
        kind = parse(d.subject, state.settings.allowlisted_codes()).kind
    except IdentifierError:
        return out
    grades: dict[str, str | None] = {}
    cats = state.catalogue.categories
    with state.db.engine.connect() as conn:
        states = states_for_subject(conn, d.subject, known_at=known_at, linked=False)
        # A black-list record about the subject in force withholds red-list benefits (the engine's rule), and
        # a grade's reward too; a record reaching it only as a linked person does not.
        black = any(
            s.subject_id == d.subject
            and s.category in cats
            and cats[s.category].list == "black"
            and applies_at(s, d.as_of)
            for s in states
        )
        for memo, m in measures:
            cond = m.grade_condition
            assert cond is not None  # graded_on holds only these
            if cond.model not in grades:
                try:
                    model = choose_model(state.catalogue, cond.model, kind)
                except GradingRefused:  # a model of the other kind; a person only under a reward-only one
                    grades[cond.model] = None
                else:
                    g = grade_states(model, state.catalogue, d.subject, states, d.as_of, known_at)
                    grades[cond.model] = g.grade
            letter = grades[cond.model]
            if letter is None or letter not in cond.grades:
                continue
            withheld = black and m.effect == "expedite"
            out.reasons.append(
                {
                    "memorandum": memo.code,
                    "measure": m.code,
                    "department": m.department,
                    "effect": m.effect,
                    "legal_basis": m.legal_basis,
                    "valid_until": None,
                    "grade": {"model": cond.model, "grade": letter},
                    "withheld": withheld,
                }
            )
            if not withheld:
                out.effects.add(m.effect)
    return out


def apply_to_view(view: dict[str, Any], extra: GradedReasons, role: str) -> dict[str, Any]:
    """A decision's view (checkpoint or registrar) with the grade's reasons added and effects recomputed."""
    if not extra.reasons:
        return view
    effects = set(view["effects"]) | extra.effects
    view["effects"] = [e for e in EFFECT_ORDER if e in effects]
    view["allowed"] = "deny" not in effects
    shown = [
        {k: v for k, v in r.items() if k != "withheld"} if role == "checkpoint" else r
        for r in extra.reasons
        if role != "checkpoint" or not r["withheld"]  # a withheld reward is no reason for a checkpoint
    ]
    view["reasons"] = [*view["reasons"], *shown]
    return view
