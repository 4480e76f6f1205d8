"""Measures of the catalogue conditioned on a grade (decision 1003): which ones a checkpoint's scope reaches,
and each as the reason a checkpoint is given a grade, with whether the grade meets its condition.

A checkpoint sees a grade only through such a measure: the letter, and the measure (memorandum, department,
legal basis, actions) that makes the letter the condition of an action it checks; never the points or records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..catalogue import Catalogue
from ..catalogue.loader import covers
from ..catalogue.model import Measure, Memorandum

__all__ = ["GradedMeasure", "in_scope", "reasons"]


@dataclass(frozen=True, slots=True)
class GradedMeasure:
    memorandum: Memorandum
    measure: Measure
    # The measure's actions the scope reaches (a key on ``inspection`` reaches a measure on ``inspection.random``,
    # and a key on ``inspection.random`` one on ``inspection``).
    actions: tuple[str, ...]


def in_scope(catalogue: Catalogue, patterns: Iterable[str], model: str | None = None) -> list[GradedMeasure]:
    """The grade-conditioned measures on an action of ``patterns`` (a checkpoint key's scope), under ``model``
    if given, in catalogue order."""
    scope = tuple(patterns)
    out: list[GradedMeasure] = []
    for memo, m in catalogue.graded_measures():
        assert m.grade_condition is not None  # graded_measures returns only those
        if model is not None and m.grade_condition.model != model:
            continue
        reached = tuple(a for a in m.actions if any(covers(p, a) or covers(a, p) for p in scope))
        if reached:
            out.append(GradedMeasure(memo, m, reached))
    return out


def reasons(measures: Iterable[GradedMeasure], grade: str) -> list[dict[str, Any]]:
    """Each measure as a checkpoint's reason for seeing ``grade``: ``applies`` is whether the grade is one of
    the measure's grades (so whether the checkpoint applies its effect)."""
    out: list[dict[str, Any]] = []
    for g in measures:
        m, memo, cond = g.measure, g.memorandum, g.measure.grade_condition
        assert cond is not None
        out.append(
            {
                "memorandum": memo.code,
                "document_no": memo.document_no,
                "measure": m.code,
                "title": m.title,
                "title_zh": m.title_zh,
                "department": m.department,
                "effect": m.effect,
                "legal_basis": m.legal_basis,
                "actions": list(g.actions),
                "grades": list(cond.grades),
                "applies": grade in cond.grades,
            }
        )
    return out
