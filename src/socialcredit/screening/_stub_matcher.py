"""A stand-in for S-A's ``screening/matcher.py`` (the interface of _notes/SCREENING.md): exact folded names.

The integrator deletes this module after merging the real matcher; ``screening/run.py`` imports the real one
first. Only what the file screening needs is here: a folded-name equality with a fixed score.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["HIT", "POSSIBLE", "NameIndex", "NameMatch", "NameQuery", "score_pair"]

HIT = 0.85
POSSIBLE = 0.6
_EXACT = 0.9


@dataclass(frozen=True, slots=True)
class NameQuery:
    name: str
    kind: str | None = None
    birth_date: dt.date | None = None
    region: str | None = None


@dataclass(frozen=True, slots=True)
class NameMatch:
    subject_id: str
    name: str
    kind: str
    score: float
    features: dict[str, float] = field(default_factory=dict)
    explanation: str = ""


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if ch.isalnum())


def score_pair(query: NameQuery, subject_id: str, name: str, kind: str) -> NameMatch:
    same = bool(_fold(query.name)) and _fold(query.name) == _fold(name)
    ok = same and (query.kind is None or query.kind == kind)
    score = _EXACT if ok else 0.0
    return NameMatch(subject_id, name, kind, score, {"exact_name": score}, "folded names equal" if ok else "")


class NameIndex:
    def __init__(self, by_key: dict[str, list[tuple[str, str, str]]]) -> None:
        self._by_key = by_key
        self._n = sum(map(len, by_key.values()))

    @classmethod
    def build(cls, subjects: Iterable[tuple[str, str, str]]) -> NameIndex:
        by_key: dict[str, list[tuple[str, str, str]]] = {}
        for sid, name, kind in subjects:
            by_key.setdefault(_fold(name), []).append((sid, name, kind))
        return cls(by_key)

    def match(self, query: NameQuery, limit: int = 5, threshold: float = POSSIBLE) -> list[NameMatch]:
        found = [score_pair(query, *s) for s in self._by_key.get(_fold(query.name), [])]
        return sorted((m for m in found if m.score >= threshold), key=lambda m: -m.score)[:limit]

    def __len__(self) -> int:
        return self._n
