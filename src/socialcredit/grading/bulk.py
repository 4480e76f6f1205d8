"""Grading every organisation at once: the registry's records in one query, scored as numpy columns.

The arithmetic is :mod:`.grade`'s (tests compare the two subject by subject): a record scores its rule's
points times the decay for its age while it applies (in force, not ended, not suspended), nothing otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, select

from ..catalogue import Catalogue
from ..store.tables import records, subjects
from .model import ScoringModel
from .rules import YEAR_SECONDS, rules_by_category

__all__ = ["Columns", "grade_columns", "load_columns", "score_columns"]


@dataclass
class Columns:
    """The organisations of the registry, and their own records as columns (``subject`` indexes ``ids``)."""

    ids: list[str]
    subject: NDArray[np.int64]
    category: NDArray[np.int64]
    categories: list[str]
    start: NDArray[np.float64]  # effective_from, POSIX seconds
    applies: NDArray[np.bool_]  # whether the record applies at as_of


def _ts(v: dt.datetime | None, absent: float) -> float:
    return absent if v is None else v.timestamp()


def load_columns(conn: Connection, as_of: dt.datetime, kind: str = "organisation") -> Columns:
    """Two queries: the subjects of ``kind``, and the records about them (the current projection)."""
    ids = list(
        conn.execute(select(subjects.c.id).where(subjects.c.kind == kind).order_by(subjects.c.id)).scalars()
    )
    pos = {sid: i for i, sid in enumerate(ids)}
    t = as_of.timestamp()
    c = records.c
    q = select(
        c.subject_id,
        c.category,
        c.effective_from,
        c.applies_from,
        c.effective_until,
        c.ended_at,
        c.suspensions,
    )
    cat_no: dict[str, int] = {}
    subj: list[int] = []
    cats: list[int] = []
    starts: list[float] = []
    applies: list[bool] = []
    for sid, category, eff_from, app_from, eff_until, ended, susp in conn.execution_options(
        yield_per=50_000
    ).execute(q):
        i = pos.get(sid)
        if i is None:
            continue
        start = eff_from.timestamp()
        if start > t:
            continue
        until = min(_ts(eff_until, np.inf), _ts(ended, np.inf))
        ok = app_from.timestamp() <= t < until
        if ok and susp and susp != "[]":
            for a, b in json.loads(susp):
                if dt.datetime.fromisoformat(a).timestamp() <= t and (
                    b is None or t < dt.datetime.fromisoformat(b).timestamp()
                ):
                    ok = False
        subj.append(i)
        cats.append(cat_no.setdefault(category, len(cat_no)))
        starts.append(start)
        applies.append(ok)
    return Columns(
        ids,
        np.asarray(subj, np.int64),
        np.asarray(cats, np.int64),
        list(cat_no),
        np.asarray(starts, np.float64),
        np.asarray(applies, np.bool_),
    )


def _weights(model: ScoringModel, age: NDArray[np.float64]) -> NDArray[np.float64]:
    ages = np.asarray([s.from_years for s in model.decay.steps], np.float64)
    ws = np.asarray([s.weight for s in model.decay.steps], np.float64)
    if model.decay.kind == "linear":
        return np.interp(age, ages, ws)  # constant past the last step, as rules.weight
    idx = np.clip(np.searchsorted(ages, age, side="right") - 1, 0, len(ws) - 1)
    out: NDArray[np.float64] = ws[idx]
    return out


def score_columns(
    model: ScoringModel, catalogue: Catalogue, cols: Columns, as_of: dt.datetime
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(each record's points, each subject's score) under ``model``."""
    by_cat = rules_by_category(model, catalogue.categories)
    base = np.asarray([by_cat[c].points if c in by_cat else 0 for c in cols.categories] or [0], np.float64)
    age = (as_of.timestamp() - cols.start) / YEAR_SECONDS
    w = np.round(_weights(model, age), 4) * cols.applies
    pts = np.round(base[cols.category] * w, 2)
    score = model.start + np.bincount(cols.subject, weights=pts, minlength=len(cols.ids))
    return pts, np.round(score, 2)


def grade_columns(model: ScoringModel, score: NDArray[np.float64]) -> NDArray[np.int64]:
    """Each score's band, as its index in ``model.grades`` (0: the highest grade)."""
    mins = [b.min for b in model.grades]
    out = np.full(len(score), len(mins) - 1, np.int64)
    for k in range(len(mins) - 2, -1, -1):  # from the lowest banded grade up: higher bands overwrite
        m = mins[k]
        if m is not None:
            out[score >= m] = k
    return out
