"""Scoring models: what a lawyer writes in ``models/*.yaml`` of a catalogue, as typed, frozen objects.

A model grades one kind of subject from its records, and from nothing else: a start score, the points each
rule gives a record (chosen by category, or by list and severity), a decay by the record's age, and grade
thresholds. Every rule cites its legal basis; the model cites its source. docs/grading.md explains each field;
the lints (a punitive model of persons, thresholds out of order, a decay that grows...) are in :mod:`.lint`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..catalogue.model import ListKind, Severity, SubjectKindName

__all__ = ["Decay", "DecayStep", "GradeBand", "Rule", "ScoringModel"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Rule(_Strict):
    """Points for each record the rule selects: one category, or every category of a list (and severity)."""

    code: str = Field(min_length=1)
    category: str | None = None
    list: ListKind | None = None
    severity: Severity | None = None
    # Negative for black and watch lists (a deduction), positive for red lists (an addition).
    points: int
    legal_basis: str = ""


class DecayStep(_Strict):
    """From ``from_years`` of age on, a record weighs ``weight`` (stepwise) or toward the next step (linear)."""

    from_years: float = Field(ge=0)
    weight: float = Field(ge=0, le=1)


class Decay(_Strict):
    """How a record weighs less as it ages; the weights must never grow (the lint refuses one that does)."""

    kind: Literal["step", "linear"] = "step"
    steps: tuple[DecayStep, ...] = Field(min_length=1)


class GradeBand(_Strict):
    """A grade given to a score of at least ``min`` (the lowest band has no minimum)."""

    grade: str = Field(min_length=1)
    min: int | None = None
    title: str | None = None


class ScoringModel(_Strict):
    code: str = ""
    title: str = Field(min_length=1)
    title_en: str | None = None
    kind: SubjectKindName = "organisation"
    # Only additions from red-list categories: the one kind of model that may grade persons (docs/grading.md).
    reward_only: bool = False
    source: str = ""
    start: int
    rules: tuple[Rule, ...] = Field(min_length=1)
    decay: Decay = Decay(steps=(DecayStep(from_years=0, weight=1.0),))
    # Highest grade first.
    grades: tuple[GradeBand, ...] = Field(min_length=2)
