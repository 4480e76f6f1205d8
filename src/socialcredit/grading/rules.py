"""The arithmetic of a scoring model, shared by one explained grade and by grading in bulk."""

from __future__ import annotations

import bisect
from collections.abc import Mapping

from ..catalogue.model import Category
from .model import Decay, Rule, ScoringModel

__all__ = ["YEAR_SECONDS", "band", "rule_for", "rules_by_category", "weight"]

YEAR_SECONDS = 365.25 * 86400


def rule_for(model: ScoringModel, category: Category) -> Rule | None:
    """The rule that scores a record of ``category``: one naming the category, else the closest list rule."""
    for rule in model.rules:
        if rule.category == category.code:
            return rule
    same = [r for r in model.rules if r.category is None and r.list == category.list]
    for rule in same:
        if rule.severity == category.severity:
            return rule
    return next((r for r in same if r.severity is None), None)


def rules_by_category(model: ScoringModel, categories: Mapping[str, Category]) -> dict[str, Rule]:
    """Each category of the catalogue that the model scores, with its rule (kinds it never grades left out)."""
    out = {}
    for code, cat in categories.items():
        if model.kind not in cat.subject_kinds:
            continue
        rule = rule_for(model, cat)
        if rule is not None:
            out[code] = rule
    return out


def weight(decay: Decay, age_years: float) -> float:
    """The weight of a record ``age_years`` old (never more than at any younger age)."""
    steps = decay.steps
    ages = [s.from_years for s in steps]
    i = bisect.bisect_right(ages, age_years) - 1
    if i < 0:
        return steps[0].weight
    if decay.kind == "step" or i == len(steps) - 1:
        return steps[i].weight
    a, b = steps[i], steps[i + 1]
    return a.weight + (b.weight - a.weight) * (age_years - a.from_years) / (b.from_years - a.from_years)


def band(model: ScoringModel, score: float) -> str:
    """The grade of ``score``: the first band (highest first) whose minimum it reaches."""
    for b in model.grades:
        if b.min is None or score >= b.min:
            return b.grade
    return model.grades[-1].grade
