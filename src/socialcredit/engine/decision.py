"""What a check answers (DESIGN.md section 3): a Decision with every effect and every reason behind it.

A checkpoint sees the decision, never the file: each reason names the record, its category, the memorandum and
measure that turn the record into a consequence, the department applying it, the effect, the measure's legal
basis and when the record stops applying.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["EFFECT_ORDER", "Decision", "Reason", "UnknownAction", "Via", "withheld_note"]

Via = Literal["subject", "legal_representative", "actual_controller"]


def withheld_note(record_id: int, category: str) -> str:
    """The note of a decision whose rewards (a red list's or a grade's) a black-list record in force withholds;
    api/views.py tells a registrar's own records' notes by its "record N (category)"."""
    return f"red-list benefits withheld while black-list record {record_id} ({category}) is in force"


# Effects are listed in this order, the strongest first.
EFFECT_ORDER = ("deny", "restrict", "review", "expedite")


class UnknownAction(ValueError):
    """The action is not in the catalogue's vocabulary: an error, never "allowed by default"."""

    def __init__(self, action: str) -> None:
        self.action = action
        super().__init__(f"unknown action {action!r}: not in the catalogue's action vocabulary")


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


# Neither class is slotted, on purpose: the hot path gives an instance its ``__dict__`` directly (see
# engine/evaluate.py), several times faster than the generated frozen ``__init__``.
@dataclass(frozen=True)
class Reason:
    """One measure applying to the subject because of one record, or because of its grade (``grade`` set:
    then there is no record, ``record_id`` is 0 and ``category`` empty; decision 1003)."""

    record_id: int
    category: str
    memorandum: str
    measure: str
    department: str
    effect: str
    legal_basis: str
    valid_until: dt.datetime | None  # None: until the obligation is fulfilled
    via: str  # subject | legal_representative | actual_controller
    via_subject: str | None  # the organisation whose record reaches this person
    withheld: bool = False  # a red-list benefit withheld while a black-list record is in force
    # The record's filing authority: it decides a registrar's view (api/views.py); not part of the answer, so
    # not in to_dict, equality or repr.
    authority: str = field(default="", compare=False, repr=False)
    # The (model, grade) that meets a grade-conditioned measure; None for a record's reason. A class default,
    # so the hot path's reasons (built by their instance dict) need not name it.
    grade: tuple[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.grade is not None:  # no record behind it: the measure and the grade (docs/checks.md)
            return {
                "memorandum": self.memorandum,
                "measure": self.measure,
                "department": self.department,
                "effect": self.effect,
                "legal_basis": self.legal_basis,
                "valid_until": None,
                "grade": {"model": self.grade[0], "grade": self.grade[1]},
                "withheld": self.withheld,
            }
        return {
            "record_id": self.record_id,
            "category": self.category,
            "memorandum": self.memorandum,
            "measure": self.measure,
            "department": self.department,
            "effect": self.effect,
            "legal_basis": self.legal_basis,
            "valid_until": _iso(self.valid_until),
            "via": self.via,
            "via_subject": self.via_subject,
            "withheld": self.withheld,
        }


@dataclass(frozen=True)
class Decision:
    """The answer to ``check(subject, action, as_of)``: allowed exactly when no applicable measure denies."""

    subject: str
    known: bool
    action: str
    as_of: dt.datetime
    allowed: bool
    effects: tuple[str, ...]
    reasons: tuple[Reason, ...]
    catalogue_version: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the DESIGN.md section 3 keys, plus ``notes``."""
        return {
            "subject": self.subject,
            "known": self.known,
            "action": self.action,
            "as_of": _iso(self.as_of),
            "allowed": self.allowed,
            "effects": list(self.effects),
            "reasons": [r.to_dict() for r in self.reasons],
            "catalogue_version": self.catalogue_version,
            "notes": list(self.notes),
        }
