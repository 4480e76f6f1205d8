"""``grade(subject, model, as_of, known_at)``: one explained grade, every point naming its record and rule.

A grade is computed from the subject's own records, as the registry knew them at ``known_at`` (default now),
at the instant ``as_of`` (default now), exactly as a check is (bitemporal). A record scores by its model rule,
times the decay for its age (from ``effective_from``); it weighs nothing once it has ended, been repaired,
revoked or fulfilled, while suspended, and before it applies. Persons are graded only by reward-only models.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from ..catalogue import Catalogue
from ..identifiers import parse
from ..registry import RecordState, applies_at, display_status
from ..registry.projection import states_for_subject
from ..registry.state import local_date
from ..store.tables import subjects
from ..timefmt import for_json
from .model import ScoringModel
from .rules import YEAR_SECONDS, band, rule_for, weight

__all__ = [
    "Grade",
    "GradingRefused",
    "Point",
    "ToRaise",
    "UnknownModel",
    "UnknownSubject",
    "choose_model",
    "grade",
    "grade_states",
]


class GradingRefused(ValueError):
    """A grade the project refuses to give (a person under a punitive model); exit 2."""


class UnknownModel(LookupError):
    def __init__(self, code: str, known: list[str]) -> None:
        super().__init__(f"unknown model {code!r} (known: {', '.join(known) or 'none'})")


class UnknownSubject(LookupError):
    def __init__(self, subject: str) -> None:
        super().__init__(f"subject {subject} is not in the registry")


@dataclass(frozen=True)
class Point:
    record_id: int
    category: str
    rule: str
    base: int
    decay: float
    points: float
    legal_basis: str
    status: str
    effective_from: dt.datetime
    valid_until: dt.datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "category": self.category,
            "rule": self.rule,
            "base": self.base,
            "decay": self.decay,
            "points": self.points,
            "legal_basis": self.legal_basis,
            "status": self.status,
            "effective_from": for_json(self.effective_from),
            "valid_until": for_json(self.valid_until),
        }


@dataclass(frozen=True)
class ToRaise:
    record_id: int
    action: str  # "ends" | "repairable"
    on: dt.date
    grade_after: str
    how: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "action": self.action,
            "on": self.on.isoformat(),
            "grade_after": self.grade_after,
            "how": self.how,
        }


@dataclass(frozen=True)
class Grade:
    subject: str
    model: str
    model_title: str
    as_of: dt.datetime
    known_at: dt.datetime | None
    start: int
    points: tuple[Point, ...]
    score: float
    grade: str
    thresholds: tuple[tuple[str, int | None], ...]
    to_raise: tuple[ToRaise, ...] = field(default=())
    catalogue_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "model": self.model,
            "model_title": self.model_title,
            "as_of": for_json(self.as_of),
            "known_at": for_json(self.known_at),
            "start": self.start,
            "points": [p.to_dict() for p in self.points],
            "score": self.score,
            "grade": self.grade,
            "thresholds": [{"grade": g, "min": m} for g, m in self.thresholds],
            "to_raise": [r.to_dict() for r in self.to_raise],
            "catalogue_version": self.catalogue_version,
        }


def choose_model(catalogue: Catalogue, code: str | None, kind: str) -> ScoringModel:
    """The model asked for (default: the first of the subject's kind); a person only under a reward-only one."""
    models = catalogue.models
    if code is not None:
        model = models.get(code)
        if model is None:
            raise UnknownModel(code, sorted(models))
    else:
        fits = [
            m for c, m in sorted(models.items()) if m.kind == kind and (kind != "person" or m.reward_only)
        ]
        if not fits:
            raise GradingRefused(
                f"no model of the catalogue grades a {kind}"
                + (" for rewards (persons are graded only by reward-only models)" if kind == "person" else "")
            )
        model = fits[0]
    if kind == "person" and not model.reward_only:
        raise GradingRefused(
            f"model {model.code!r} is not reward-only: national policy allows evaluating individuals for "
            "rewards, not for punishment, so a person is graded only by a reward-only model (docs/grading.md)"
        )
    if kind != model.kind:
        raise GradingRefused(f"model {model.code!r} grades a {model.kind}, and this subject is a {kind}")
    return model


def grade_states(
    model: ScoringModel,
    catalogue: Catalogue,
    subject: str,
    states: list[RecordState],
    as_of: dt.datetime,
    known_at: dt.datetime | None = None,
) -> Grade:
    """The explained grade of ``subject`` from its record states (records about others are left out)."""
    t = as_of.timestamp()
    points: list[Point] = []
    for st in sorted(states, key=lambda s: s.id):
        cat = catalogue.categories.get(st.category)
        if st.subject_id != subject or cat is None or st.effective_from > as_of:
            continue
        rule = rule_for(model, cat)
        if rule is None or model.kind not in cat.subject_kinds:
            continue
        w = (
            weight(model.decay, (t - st.effective_from.timestamp()) / YEAR_SECONDS)
            if applies_at(st, as_of)
            else 0.0
        )
        points.append(
            Point(
                st.id,
                st.category,
                rule.code,
                rule.points,
                round(w, 4),
                round(rule.points * w, 2) + 0.0,  # never -0.0
                rule.legal_basis,
                display_status(st, as_of),
                st.effective_from,
                st.valid_until,
            )
        )
    score = round(model.start + sum(p.points for p in points), 2)
    raise_: list[ToRaise] = []
    for p in points:
        if p.points >= 0:
            continue
        after = band(model, score - p.points)
        cat = catalogue.categories[p.category]
        today = local_date(as_of)
        if cat.ends_by_fulfilment:
            raise_.append(
                ToRaise(p.record_id, "ends", today, after, "as soon as the obligation is fulfilled")
            )
        if p.valid_until is not None:
            raise_.append(ToRaise(p.record_id, "ends", local_date(p.valid_until), after, "its term ends"))
        if cat.ends_by_fulfilment:
            continue
        if cat.publication is not None and cat.publication.min_days < cat.publication.max_days:
            on = max(
                local_date(p.effective_from) + dt.timedelta(days=cat.publication.min_days), local_date(as_of)
            )
            if p.valid_until is None or on < local_date(p.valid_until):
                how = f"credit repair, once {cat.publication.min_days} days have passed (NDRC Order 36)"
                raise_.append(ToRaise(p.record_id, "repairable", on, after, how))
    raise_.sort(key=lambda r: (r.on, r.record_id, r.action))
    return Grade(
        subject=subject,
        model=model.code,
        model_title=model.title,
        as_of=as_of,
        known_at=known_at,
        start=model.start,
        points=tuple(points),
        score=score,
        grade=band(model, score),
        thresholds=tuple((b.grade, b.min) for b in model.grades),
        to_raise=tuple(raise_),
        catalogue_version=catalogue.version,
    )


def grade(
    conn: Connection,
    catalogue: Catalogue,
    subject: str,
    model: str | None = None,
    as_of: dt.datetime | None = None,
    known_at: dt.datetime | None = None,
    allowlist: frozenset[str] = frozenset(),
) -> Grade:
    """The explained grade of ``subject`` under ``model`` (default: the first of its kind) at ``as_of``.

    Raises IdentifierError (a malformed identifier), UnknownModel, UnknownSubject (not in the registry, or not
    yet at ``known_at``) and GradingRefused (a person under a model that is not reward-only).
    """
    sid = parse(subject, allowlist)
    chosen = choose_model(catalogue, model, sid.kind)
    as_of = as_of or dt.datetime.now(dt.UTC)
    q = select(subjects.c.id).where(subjects.c.id == sid.canonical)
    if known_at is not None:
        q = q.where(subjects.c.created_at <= known_at)
    if conn.execute(q).first() is None:
        raise UnknownSubject(sid.canonical)
    states = states_for_subject(conn, sid.canonical, known_at=known_at, linked=False)
    return grade_states(chosen, catalogue, sid.canonical, states, as_of, known_at)
