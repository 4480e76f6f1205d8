"""What a checkpoint key's action scope reaches of the feed and of a monitor (docs/decisions/0310).

A checkpoint follows the registry to keep its answers for its own actions fresh: it needs to know *whose*
answer may have changed and *for which of its actions*, not the file behind it. So an event reaches a
checkpoint only if its record's category has a measure on the record's subject that covers one of the key's
actions, and it arrives as ``{cursor, event_id, recorded_at, subject_id, actions}``: no record id, category,
authority, status, reason or linked person (a linked person would tell the checkpoint who represents whom).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ..catalogue import covers
from ..engine.rules import Rules
from ..keys import get_key
from .grades import RegistrarView
from .reader import FeedEvent

__all__ = ["Scope", "owner_scope", "scope_for"]


@dataclass(frozen=True, slots=True)
class Scope:
    """The reach of one set of action patterns under one catalogue, computed once per key scope."""

    patterns: tuple[str, ...]
    # (category, via) -> the catalogue actions inside the scope whose answer a record of it changes.
    reach: dict[tuple[str, str], tuple[str, ...]]

    def actions(self, category: str, via: str = "subject") -> tuple[str, ...]:
        return self.reach.get((category, via), ())

    def reaches(self, ev: FeedEvent) -> bool:
        # Never a derived event: a grade is not a checkpoint's to know (decision 1002, 1011).
        return not ev.derived and (ev.about[0], "subject") in self.reach

    def event(self, ev: FeedEvent) -> dict[str, Any]:
        """The checkpoint's form of a feed event that :meth:`reaches` this scope."""
        category, subject = ev.about
        return self.body(ev.seq, ev.event_id, ev.recorded_at, category, subject)

    def body(
        self, seq: int, event_id: int, recorded_at: dt.datetime, category: str, subject: str
    ) -> dict[str, Any]:
        return {
            "cursor": str(seq),
            "event_id": event_id,
            "recorded_at": recorded_at.isoformat(),
            "subject_id": subject,
            "actions": list(self.actions(category)),
        }


def owner_scope(conn: Connection, owner: str, rules: Rules) -> Scope | RegistrarView | None:
    """The scope a subscription's owner reads with: a checkpoint key's; a registrar's (grade changes only,
    decision 1011); None for an operator's (``--owner``) or an auditor's, who read the full event."""
    key = get_key(conn, owner)
    if key is not None and key.role == "registrar":
        return RegistrarView(key.authority)
    return scope_for(rules, key.actions) if key is not None and key.role == "checkpoint" else None


_CACHE: dict[tuple[str, tuple[str, ...]], Scope] = {}


def _compute(rules: Rules, patterns: tuple[str, ...]) -> Scope:
    reach: dict[tuple[str, str], tuple[str, ...]] = {}
    for key, rule in rules.by_key.items():
        acts = tuple(sorted(a for a in rule.by_action if any(covers(p, a) for p in patterns)))
        if acts:
            reach[key] = acts
    return Scope(patterns, reach)


def scope_for(rules: Rules, patterns: Iterable[str]) -> Scope:
    """The scope of ``patterns`` under ``rules``, cached by catalogue version and patterns (a key's scope
    is fixed, and the catalogue's version names its content)."""
    pats = tuple(sorted(set(patterns)))
    k = (rules.version, pats)
    hit = _CACHE.get(k)
    if hit is None:
        if len(_CACHE) > 1000:
            _CACHE.clear()
        hit = _CACHE[k] = _compute(rules, pats)
    return hit
