"""``grade impact``: before a model changes, how many organisations would move between grades, and why.

Every organisation is graded under the current and the changed model from one read of the registry
(:mod:`.bulk`); the answer is a transition matrix (old grade -> new grade counts) and the rule changes that
drive the moves: for each category, the points per record before and after and how many moved subjects hold it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection

from ..catalogue import Catalogue, CatalogueIssue
from ..timefmt import for_json
from .bulk import grade_columns, load_columns, score_columns
from .lint import load_model_file
from .model import ScoringModel
from .rules import rules_by_category

__all__ = ["Impact", "ModelFileError", "impact", "load_candidate", "show"]


class ModelFileError(ValueError):
    """The changed model does not lint: every problem, with the file, the path and the reason."""

    def __init__(self, issues: list[CatalogueIssue]) -> None:
        self.issues = issues
        super().__init__(f"{len(issues)} model error(s): " + "; ".join(str(i) for i in issues))


def load_candidate(path: Path, catalogue: Catalogue) -> ScoringModel:
    issues: list[CatalogueIssue] = []
    model = load_model_file(path, str(path), catalogue.categories, issues)
    if model is None or issues:
        raise ModelFileError(issues)
    return model


@dataclass(frozen=True)
class Impact:
    old: str
    as_of: dt.datetime
    subjects: int
    moved: int
    matrix: dict[str, dict[str, int]]
    drivers: list[dict[str, Any]]
    grades_old: list[str]
    grades_new: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.old,
            "as_of": for_json(self.as_of),
            "subjects": self.subjects,
            "moved": self.moved,
            "matrix": self.matrix,
            "drivers": self.drivers,
        }


def impact(
    conn: Connection, catalogue: Catalogue, old: ScoringModel, new: ScoringModel, as_of: dt.datetime
) -> Impact:
    cols = load_columns(conn, as_of, old.kind)
    old_pts, old_score = score_columns(old, catalogue, cols, as_of)
    new_pts, new_score = score_columns(new, catalogue, cols, as_of)
    g_old = grade_columns(old, old_score)
    g_new = grade_columns(new, new_score)
    names_old = [b.grade for b in old.grades]
    names_new = [b.grade for b in new.grades]
    matrix: dict[str, dict[str, int]] = {}
    for a, b in zip(g_old.tolist(), g_new.tolist(), strict=True):
        row = matrix.setdefault(names_old[a], {})
        row[names_new[b]] = row.get(names_new[b], 0) + 1
    # A subject moves when its grade's name changes (the models may name their grades differently).
    same = np.asarray([[a == b for b in names_new] for a in names_old], np.bool_)
    moved_subject = ~same[g_old, g_new] if len(g_old) else np.zeros(0, np.bool_)
    by_old = rules_by_category(old, catalogue.categories)
    by_new = rules_by_category(new, catalogue.categories)
    drivers: list[dict[str, Any]] = []
    rec_moved = moved_subject[cols.subject] if len(cols.subject) else np.zeros(0, np.bool_)
    for k, cat in enumerate(cols.categories):
        ro, rn = by_old.get(cat), by_new.get(cat)
        po, pn = (ro.points if ro else 0), (rn.points if rn else 0)
        if po == pn:
            continue
        sel = (cols.category == k) & rec_moved
        n = int(np.unique(cols.subject[sel]).size)
        if n:
            drivers.append(
                {
                    "category": cat,
                    "rule_old": ro.code if ro else None,
                    "rule_new": rn.code if rn else None,
                    "points_old": po,
                    "points_new": pn,
                    "subjects_moved": n,
                    "points_delta": round(float(new_pts[sel].sum() - old_pts[sel].sum()), 2),
                }
            )
    if old.start != new.start:
        drivers.append(
            {"start_old": old.start, "start_new": new.start, "subjects_moved": int(moved_subject.sum())}
        )
    if [b.min for b in old.grades] != [b.min for b in new.grades] or names_old != names_new:
        drivers.append(
            {
                "thresholds_old": [{"grade": b.grade, "min": b.min} for b in old.grades],
                "thresholds_new": [{"grade": b.grade, "min": b.min} for b in new.grades],
            }
        )
    if old.decay != new.decay:
        drivers.append({"decay_old": old.decay.model_dump(), "decay_new": new.decay.model_dump()})
    drivers.sort(key=lambda d: -int(d.get("subjects_moved", 0)))
    return Impact(
        old.code, as_of, len(cols.ids), int(moved_subject.sum()), matrix, drivers, names_old, names_new
    )


def show(result: Impact, console: Console) -> None:
    console.print(
        f"{result.moved} of {result.subjects} subjects would change grade under the new {result.old!r} "
        f"(as of {for_json(result.as_of)})"
    )
    table = Table("old \\ new", *result.grades_new)
    for g in result.grades_old:
        row = result.matrix.get(g, {})
        table.add_row(g, *(str(row.get(n, 0)) for n in result.grades_new))
    console.print(table)
    for d in result.drivers:
        if "category" in d:
            console.print(
                f"{d['category']}: {d['rule_old']} {d['points_old']} -> {d['rule_new']} {d['points_new']} "
                f"points per record; {d['subjects_moved']} moved subjects hold one"
            )
        elif "start_old" in d:
            console.print(f"start: {d['start_old']} -> {d['start_new']}")
        elif "thresholds_old" in d:
            console.print("thresholds changed")
        else:
            console.print("decay changed")
