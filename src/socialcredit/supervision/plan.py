"""Drawing a random-inspection plan (双随机、一公开): firms by risk class, then inspectors, both from a seed.

Each organisation the authority inspects is graded by the policy's model in bulk (:mod:`..grading.bulk`); its
grade is its risk class. From a class of ``N`` firms at rate ``r``, ``ceil(r * N)`` are drawn (never fewer than
the rate: 抽查比例不低于): the firms of the class ranked by ``SHA-256(seed, authority, year, firm)`` and the
first taken. Then, for each drawn firm, the authority's inspectors without a conflict with it are ranked by
``SHA-256(seed, authority, year, firm, inspector)`` and the first ``inspectors_per_inspection`` sent. The same
seed, registry state, instant and inspectors' list give the same plan; a firm's rank depends on no other firm,
so a firm added to the registry changes no other firm's place.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from ..catalogue import Catalogue
from ..grading.bulk import grade_columns, load_columns, score_columns
from ..store.tables import subjects
from ..timefmt import for_json
from .inspectors import Inspector
from .policy import SupervisionPolicy

__all__ = [
    "CSV_COLUMNS",
    "ClassCount",
    "NoPolicy",
    "Plan",
    "PlanRefused",
    "PlanRow",
    "check_region",
    "check_seed",
    "draw",
    "rank",
    "rows_csv",
    "sample_size",
]

CSV_COLUMNS = ("firm", "name", "class", "rate", "inspectors", "inspector_names")
MAX_SEED = 64


class NoPolicy(LookupError):
    """The authority has no supervision policy in the catalogue (exit 3)."""

    def __init__(self, authority: str, known: list[str]) -> None:
        super().__init__(
            f"authority {authority!r} has no supervision policy in the catalogue (policies: "
            f"{', '.join(known) or 'none'})"
        )


class PlanRefused(ValueError):
    """A plan that cannot be drawn as asked (too few inspectors without a conflict; bad input): exit 2."""


@dataclass(frozen=True)
class PlanRow:
    firm: str
    name: str
    risk_class: str
    rate: float
    inspectors: tuple[Inspector, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "firm": self.firm,
            "name": self.name,
            "class": self.risk_class,
            "rate": self.rate,
            "inspectors": [{"id": i.id, "name": i.name} for i in self.inspectors],
        }


@dataclass(frozen=True)
class ClassCount:
    risk_class: str
    rate: float
    firms: int
    drawn: int

    def to_dict(self) -> dict[str, Any]:
        return {"class": self.risk_class, "rate": self.rate, "firms": self.firms, "drawn": self.drawn}


@dataclass(frozen=True)
class Plan:
    authority: str
    region: str | None
    year: int
    seed: str
    as_of: dt.datetime
    model: str
    catalogue_version: str
    inspectors_digest: str
    inspectors: int  # of the authority in the list
    counts: tuple[ClassCount, ...]
    rows: tuple[PlanRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "authority": self.authority,
            "region": self.region,
            "year": self.year,
            "seed": self.seed,
            "as_of": for_json(self.as_of),
            "model": self.model,
            "catalogue_version": self.catalogue_version,
            "inspectors_digest": self.inspectors_digest,
            "inspectors": self.inspectors,
            "counts": [c.to_dict() for c in self.counts],
            "rows": [r.to_dict() for r in self.rows],
        }

    def summary(self) -> str:
        """The counts in one line: ``A 2/50 B 1/8 ...`` (drawn of firms, per class)."""
        return " ".join(f"{c.risk_class} {c.drawn}/{c.firms}" for c in self.counts)

    def to_csv(self) -> str:
        return rows_csv([r.to_dict() for r in self.rows])


def rows_csv(rows: list[dict[str, Any]]) -> str:
    """A plan's rows (as :meth:`PlanRow.to_dict` gives and the store keeps) as CSV, formulas made inert."""
    from ..screening.writers import escape  # a firm's name could read as a spreadsheet formula

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        team = r["inspectors"]
        w.writerow(
            [
                r["firm"],
                escape(r["name"]),
                r["class"],
                f"{r['rate']:g}",
                ";".join(escape(i["id"]) for i in team),
                ";".join(escape(i["name"]) for i in team),
            ]
        )
    return buf.getvalue()


def rank(seed: str, *parts: str) -> bytes:
    """The draw's order: SHA-256 of the seed and the parts, joined by the unit separator."""
    return hashlib.sha256("\x1f".join((seed, *parts)).encode("utf-8")).digest()


def sample_size(rate: float, firms: int) -> int:
    """``ceil(rate * firms)`` in decimal (0.03 * 100 is 3, not 4 as in binary floating point)."""
    return min(firms, math.ceil(Decimal(str(rate)) * firms))


def check_region(region: str | None) -> str | None:
    if region is None:
        return None
    if not region.isascii() or not region.isdigit() or len(region) not in (2, 4, 6):
        raise PlanRefused(
            f"--region: {region[:20]!r}: a division code of 2, 4 or 6 digits (province, city, county: 11, 1101,"
            " 110105)"
        )
    return region


def check_seed(seed: str) -> str:
    if not seed or len(seed) > MAX_SEED or not seed.isprintable():
        raise PlanRefused(f"--seed: {seed[:20]!r}: 1 to {MAX_SEED} printable characters")
    return seed


def _names(conn: Connection, ids: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        q = select(subjects.c.id, subjects.c.name).where(subjects.c.id.in_(chunk))
        out.update({str(a): str(b) for a, b in conn.execute(q)})
    return out


def draw(
    conn: Connection,
    catalogue: Catalogue,
    authority: str,
    inspectors: list[Inspector],
    inspectors_digest: str,
    seed: str,
    year: int,
    as_of: dt.datetime,
    region: str | None = None,
) -> Plan:
    """The plan of ``authority`` for ``year``, graded as of ``as_of``.

    ``conn`` is used for reading only: grading in bulk streams with ``yield_per``, which stays set on it, so
    the plan is stored on another connection."""
    policy: SupervisionPolicy | None = catalogue.supervision.get(authority)
    if policy is None:
        raise NoPolicy(authority, sorted(catalogue.supervision))
    check_seed(seed)
    check_region(region)
    if not 2000 <= year <= 2100:
        raise PlanRefused(f"--year: {year}: a year from 2000 to 2100")
    model = catalogue.models[policy.grading_model]
    cols = load_columns(conn, as_of, model.kind)
    _, score = score_columns(model, catalogue, cols, as_of)
    grades = grade_columns(model, score).tolist()
    names = [b.grade for b in model.grades]
    by_class: dict[str, list[str]] = {g: [] for g in names}
    scope = set(policy.registered_by)
    for sid, g in zip(cols.ids, grades, strict=True):
        if scope and sid[:1] not in scope:
            continue
        if region is not None and not sid[2:8].startswith(region):
            continue
        by_class[names[g]].append(sid)
    y = str(year)
    counts: list[ClassCount] = []
    picked: list[tuple[str, str, float]] = []
    for g in names:
        firms = by_class[g]
        rate = policy.rates[g]
        n = sample_size(rate, len(firms))
        chosen = sorted(firms, key=lambda f: rank(seed, authority, y, f))[:n]
        counts.append(ClassCount(g, rate, len(firms), n))
        picked.extend((f, g, rate) for f in chosen)
    k = policy.inspectors_per_inspection
    rows: list[PlanRow] = []
    firm_names = _names(conn, [f for f, _, _ in picked])
    for firm, g, rate in picked:
        free = [i for i in inspectors if firm not in i.conflicts]
        if len(free) < k:
            raise PlanRefused(
                f"--inspectors: firm {firm}: {len(free)} inspector(s) of {authority} without a conflict with "
                f"it, {k} needed per inspection ({policy.code}.yaml inspectors_per_inspection)"
            )
        free.sort(key=lambda i: rank(seed, authority, y, firm, i.id))
        rows.append(PlanRow(firm, firm_names.get(firm, ""), g, rate, tuple(free[:k])))
    return Plan(
        authority=authority,
        region=region,
        year=year,
        seed=seed,
        as_of=as_of,
        model=model.code,
        catalogue_version=catalogue.version,
        inspectors_digest=inspectors_digest,
        inspectors=len(inspectors),
        counts=tuple(counts),
        rows=tuple(rows),
    )
