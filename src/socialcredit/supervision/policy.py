"""Supervision policies: ``supervision/*.yaml`` of a catalogue, loaded and linted with file, path and reason.

A policy says how an authority draws its random-inspection plan (双随机、一公开, docs/supervision.md): which
grading model gives each firm its risk class, the sampling rate of each class, how many inspectors go to each
inspection, and the legal basis. The lints: the authority and the grading model exist, the model grades
organisations, every class of the model has a rate and no other class does, each rate is in [0, 1] and the
rates never fall from the lowest-risk class (the model's highest grade) to the highest-risk one, and the policy
cites its legal basis.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..catalogue.model import Authority

if TYPE_CHECKING:
    from ..catalogue.loader import CatalogueIssue
    from ..grading.model import ScoringModel

__all__ = ["SupervisionPolicy", "lint_policy", "load_policies", "load_policy_file"]


class SupervisionPolicy(BaseModel):
    """One authority's random-inspection policy."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    code: str = ""
    authority: str = Field(min_length=1)
    title: str = Field(min_length=1)
    title_en: str | None = None
    # The grading model whose grades are the risk classes (highest grade first: the lowest risk).
    grading_model: str = Field(min_length=1)
    # The sampling rate of each class, a share of its firms in [0, 1]; never lower for a riskier class.
    rates: dict[str, Annotated[float, Field(strict=True)]]
    # Inspectors drawn for each inspection (law enforcement by at least two officers).
    inspectors_per_inspection: int = Field(default=2, ge=1, le=10)
    # Which organisations the authority inspects, by the first character of their USCC (the registering
    # authority: 9 market registration, 5 civil affairs, ...); empty: every organisation.
    registered_by: tuple[str, ...] = ()
    legal_basis: tuple[str, ...] = ()


def lint_policy(
    policy: SupervisionPolicy,
    authorities: Mapping[str, Authority],
    models: Mapping[str, ScoringModel],
    broken_models: Set[str] = frozenset(),
) -> list[tuple[str, str]]:
    """Every rule the policy breaks, as (path, reason)."""
    out: list[tuple[str, str]] = []
    if policy.authority not in authorities:
        out.append(("authority", f"unknown authority {policy.authority!r}"))
    basis = [b for b in policy.legal_basis if b]
    if not basis:
        out.append(("legal_basis", "missing legal basis: a supervision policy cites the law it applies"))
    for i, b in enumerate(policy.legal_basis):
        if not b:
            out.append((f"legal_basis.{i}", "an empty legal basis"))
    for i, c in enumerate(policy.registered_by):
        if len(c) != 1 or not c.isalnum():
            out.append((f"registered_by.{i}", f"{c!r}: one character, the first of a USCC (e.g. '9')"))
    for cls, rate in policy.rates.items():
        if not 0 <= rate <= 1:
            out.append((f"rates.{cls}", f"rate {rate!r} is not in [0, 1] (a share of the class's firms)"))
    model = models.get(policy.grading_model)
    if model is None:
        if policy.grading_model in broken_models:
            return out  # its own errors are listed already
        known = ", ".join(sorted(models)) or "none"
        out.append(("grading_model", f"unknown grading model {policy.grading_model!r} (known: {known})"))
        return out
    if model.kind != "organisation":
        out.append(("grading_model", f"model {model.code!r} grades a {model.kind}; inspections are of firms"))
    classes = [b.grade for b in model.grades]
    for cls in policy.rates:
        if cls not in classes:
            out.append(
                (f"rates.{cls}", f"unknown class {cls!r} (model {model.code} has {', '.join(classes)})")
            )
    for cls in classes:
        if cls not in policy.rates:
            out.append((f"rates.{cls}", f"class {cls!r} of model {model.code} has no rate"))
    prev: tuple[str, float] | None = None
    for cls in classes:  # lowest risk first
        if cls not in policy.rates:
            continue
        rate = policy.rates[cls]
        if prev is not None and rate < prev[1]:
            out.append(
                (
                    f"rates.{cls}",
                    f"rate {rate:g} of class {cls} is below {prev[1]:g} of class {prev[0]}: rates must not "
                    f"decrease from the lowest risk to the highest ({' <= '.join(classes)})",
                )
            )
        prev = (cls, rate)
    return out


def load_policy_file(
    path: Path,
    rel: str,
    authorities: Mapping[str, Authority],
    models: Mapping[str, ScoringModel],
    issues: list[CatalogueIssue],
    broken_models: Set[str] = frozenset(),
) -> SupervisionPolicy | None:
    """One policy file, validated and linted; problems are appended to ``issues`` (None if any)."""
    from ..catalogue.loader import CatalogueIssue, _one_mapping, _record

    before = len(issues)
    data = _one_mapping(path, rel, issues, "policy")
    if data is None:
        return None
    values = dict(data)
    values.setdefault("code", path.stem)
    if isinstance(values.get("legal_basis"), str):
        values["legal_basis"] = [values["legal_basis"]]
    try:
        policy = SupervisionPolicy.model_validate(values)
    except ValidationError as exc:
        found: list[CatalogueIssue] = []
        _record(exc, rel, "", found, SupervisionPolicy)
        issues.extend(CatalogueIssue(i.file, i.path.lstrip("."), i.message) for i in found)
        return None
    for where, message in lint_policy(policy, authorities, models, broken_models):
        issues.append(CatalogueIssue(rel, where, message))
    return policy if len(issues) == before else None


def load_policies(
    root: Path,
    authorities: Mapping[str, Authority],
    models: Mapping[str, ScoringModel],
    issues: list[CatalogueIssue],
) -> dict[str, SupervisionPolicy]:
    """Every ``supervision/*.yaml`` of a catalogue directory that loads cleanly, by authority."""
    from ..catalogue.loader import CatalogueIssue

    folder = root / "supervision"
    model_dir = root / "models"
    broken = (
        {p.stem for p in model_dir.glob("*.yaml") if p.stem not in models} if model_dir.is_dir() else set()
    )
    out: dict[str, SupervisionPolicy] = {}
    files: dict[str, str] = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        rel = f"supervision/{path.name}"
        if path.suffix == ".yml":
            issues.append(CatalogueIssue(rel, "", "only *.yaml files are read: rename it to end in .yaml"))
            continue
        if path.suffix != ".yaml" or not path.is_file():
            continue
        policy = load_policy_file(path, rel, authorities, models, issues, broken)
        if policy is None:
            continue
        if policy.authority in files:
            issues.append(
                CatalogueIssue(
                    rel,
                    "authority",
                    f"authority {policy.authority!r} has a policy in {files[policy.authority]}",
                )
            )
            continue
        files[policy.authority] = rel
        out[policy.authority] = policy
    return out
