"""The catalogue compiled for checking: for each (category, reach), every action's reaching measures.

A measure reaches an action when it is on that action, on a broader one above it (a measure on
``transport.rail`` covers ``transport.rail.*``), or on a narrower one below it: a check on ``transport.air``
answers for air travel as a whole, so a ban on ``transport.air.ticket`` denies it (decision 0201: a check on a
broader action takes the strictest effect of any action under it). Protected actions, and every action under
them, are reached by nothing, whatever the catalogue says. All of it is resolved once here, for every action of
the closed vocabulary, so a check stays one dictionary lookup. Rules and measure tuples are shared by every
index entry of their category: they cost nothing per record.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from ..catalogue import Catalogue, covers
from .decision import EFFECT_ORDER

__all__ = ["REACHES", "MeasureRef", "Rule", "Rules", "compile_rules"]

# The order of reaches: a record's own subject first, then linked persons.
REACHES = ("subject", "legal_representative", "actual_controller")


@dataclass(frozen=True, slots=True)
class MeasureRef:
    """A measure as a reason names it."""

    memorandum: str
    measure: str
    department: str
    effect: str
    legal_basis: str


class Rule:
    """What a record of ``category`` does to a subject it reaches as ``via``."""

    __slots__ = ("black", "by_action", "category", "list", "sole", "via")

    def __init__(
        self, category: str, list_: str, via: str, by_action: dict[str, tuple[MeasureRef, ...]]
    ) -> None:
        self.category = category
        self.list = list_
        self.via = via
        # Only a black-list record about the subject itself withholds red-list benefits.
        self.black = list_ == "black" and via == "subject"
        self.by_action = by_action
        # When this rule's record is the only one applying: (effects, allowed) per action, precomputed. A
        # black-list rule with an expedite measure (the lint forbids it) could withhold itself: left out.
        self.sole: dict[str, tuple[tuple[str, ...], bool]] = {}
        for action, refs in by_action.items():
            if self.black and any(r.effect == "expedite" for r in refs):
                continue
            granted = {r.effect for r in refs}
            self.sole[action] = (tuple(e for e in EFFECT_ORDER if e in granted), "deny" not in granted)


@dataclass(frozen=True)
class Rules:
    """The compiled catalogue: rules by (category, reach), the action vocabulary, and the version."""

    by_key: dict[tuple[str, str], Rule]
    actions: dict[str, str]  # code -> the one interned code string
    version: str

    def rule(self, category: str, via: str) -> Rule | None:
        return self.by_key.get((category, via))


def _reaches(pattern: str, action: str) -> bool:
    """A measure on ``pattern`` bears on a check of ``action``: one covers the other (decision 0201)."""
    return covers(pattern, action) or covers(action, pattern)


def compile_rules(catalogue: Catalogue) -> Rules:
    actions = {sys.intern(a): sys.intern(a) for a in catalogue.actions}
    by_key: dict[tuple[str, str], Rule] = {}
    shared: dict[tuple[MeasureRef, ...], tuple[MeasureRef, ...]] = {}
    for code, cat in catalogue.categories.items():
        code = sys.intern(code)
        pairs = catalogue.measures_for(code)
        for via in REACHES:
            by_action: dict[str, tuple[MeasureRef, ...]] = {}
            for action in actions:
                if catalogue.is_protected(action):
                    continue  # never restricted (the lint already refuses such measures: defence in depth)
                refs = tuple(
                    MeasureRef(memo.code, m.code, m.department, m.effect, m.legal_basis)
                    for memo, m in pairs
                    if via in m.applies_to and any(_reaches(p, action) for p in m.actions)
                )
                if refs:
                    by_action[action] = shared.setdefault(refs, refs)
            # A linked person is reached only by a rule with measures; a record's subject always has its rule
            # (a black-list record withholds red-list benefits even if it triggers nothing itself).
            if by_action or via == "subject":
                by_key[(code, via)] = Rule(code, cat.list, via, by_action)
    return Rules(by_key, actions, catalogue.version)
