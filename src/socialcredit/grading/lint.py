"""Load and lint the scoring models of a catalogue (``models/*.yaml``), every problem with its file and path.

The rules (docs/grading.md): a model grades on records of the catalogue only (a rule selects a declared
category, or a list and severity; any other input is refused); black and watch lists deduct, red lists add;
thresholds descend; the decay never grows; every rule cites a legal basis and the model its source; and a
model of persons must be ``reward_only`` (national policy evaluates individuals for rewards, not punishment).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from ..catalogue.model import Category
from .model import Rule, ScoringModel

if TYPE_CHECKING:
    from ..catalogue.loader import CatalogueIssue

__all__ = ["lint_model", "load_model_file", "load_models"]

_RULE_KEYS = frozenset(Rule.model_fields)
_PERSONS_WHY = (
    "national policy allows evaluating individuals for rewards, not for punishment (docs/grading.md)"
)


def load_model_file(
    path: Path, rel: str, categories: Mapping[str, Category], issues: list[CatalogueIssue]
) -> ScoringModel | None:
    """One model file, validated and linted; problems are appended to ``issues`` (None if any)."""
    from ..catalogue.loader import CatalogueIssue, _one_mapping, _record

    before = len(issues)
    data = _one_mapping(path, rel, issues, "model")
    if data is None:
        return None
    raw_rules = data.get("rules")
    if isinstance(raw_rules, list):
        for i, r in enumerate(raw_rules):
            for key in r if isinstance(r, dict) else ():
                if key not in _RULE_KEYS:
                    issues.append(
                        CatalogueIssue(
                            rel,
                            f"rules.{i}.{key}",
                            f"a model grades on records of the catalogue only: {key!r} is not a record's "
                            f"category, list or severity (allowed: {', '.join(sorted(_RULE_KEYS))})",
                        )
                    )
        if len(issues) > before:
            return None
    values = dict(data)
    values.setdefault("code", path.stem)
    try:
        model = ScoringModel.model_validate(values)
    except ValidationError as exc:
        found: list[CatalogueIssue] = []
        _record(exc, rel, "", found, ScoringModel)
        # _record joins a prefix and the field with "."; a model file has no prefix.
        issues.extend(CatalogueIssue(i.file, i.path.lstrip("."), i.message) for i in found)
        return None
    for file, where, message in lint_model(model, categories):
        issues.append(CatalogueIssue(file or rel, where, message))
    return model if len(issues) == before else None


def lint_model(
    model: ScoringModel, categories: Mapping[str, Category], declared: Set[str] = frozenset()
) -> list[tuple[str, str, str]]:
    """Every rule the model breaks, as ("", path, reason)."""
    out: list[tuple[str, str, str]] = []

    def issue(path: str, message: str) -> None:
        out.append(("", path, message))

    if not model.source:
        issue("source", "cite the source of the model")
    if model.kind == "person" and not model.reward_only:
        issue("kind", f"a model of persons must be reward_only: {_PERSONS_WHY}")
    seen: set[str] = set()
    for i, rule in enumerate(model.rules):
        where = f"rules.{i}"
        if rule.code in seen:
            issue(f"{where}.code", f"rule {rule.code!r} appears twice")
        seen.add(rule.code)
        if not rule.legal_basis:
            issue(f"{where}.legal_basis", "a rule needs a legal basis")
        lists: set[str] = set()
        if rule.category is not None:
            cat = categories.get(rule.category)
            if cat is None:
                if rule.category not in declared:
                    issue(f"{where}.category", f"unknown category {rule.category!r}")
                continue
            if rule.list is not None and rule.list != cat.list:
                issue(
                    f"{where}.list", f"category {rule.category!r} is on the {cat.list} list, not {rule.list}"
                )
            if model.kind not in cat.subject_kinds:
                issue(f"{where}.category", f"category {rule.category!r} never lists a {model.kind}")
            lists.add(cat.list)
        elif rule.list is not None:
            lists.add(rule.list)
        else:
            issue(where, "a rule selects records by category, or by list (and severity)")
            continue
        if "red" in lists and rule.points <= 0:
            issue(f"{where}.points", "a red-list record is an addition: points must be positive")
        if lists & {"black", "watch"} and rule.points >= 0:
            issue(f"{where}.points", "a black- or watch-list record is a deduction: points must be negative")
        if model.reward_only and lists != {"red"}:
            issue(f"{where}", f"a reward_only model adds for red-list records only ({_PERSONS_WHY})")
    steps = model.decay.steps
    if steps[0].from_years != 0:
        issue("decay.steps.0.from_years", "the decay starts at age 0")
    for j in range(1, len(steps)):
        if steps[j].from_years <= steps[j - 1].from_years:
            issue(f"decay.steps.{j}.from_years", "ages must increase from step to step")
        if steps[j].weight > steps[j - 1].weight:
            issue(
                f"decay.steps.{j}.weight",
                f"a decay that grows: weight {steps[j].weight} after {steps[j - 1].weight} "
                "(a record may only weigh less as it ages)",
            )
    names: set[str] = set()
    for k, band in enumerate(model.grades):
        if band.grade in names:
            issue(f"grades.{k}.grade", f"grade {band.grade!r} appears twice")
        names.add(band.grade)
        last = k == len(model.grades) - 1
        if band.min is None and not last:
            issue(f"grades.{k}.min", "only the lowest grade has no minimum")
        if k and band.min is not None:
            prev = model.grades[k - 1].min
            if prev is not None and band.min >= prev:
                issue(
                    f"grades.{k}.min",
                    f"thresholds out of order: {band.min} is not below {prev} (highest grade first)",
                )
    return out


def load_models(
    root: Path, categories: Mapping[str, Category], issues: list[CatalogueIssue]
) -> dict[str, ScoringModel]:
    """Every ``models/*.yaml`` of a catalogue directory that loads cleanly, by code."""
    from ..catalogue.loader import CatalogueIssue

    out: dict[str, ScoringModel] = {}
    files: dict[str, str] = {}
    folder = root / "models"
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        rel = f"models/{path.name}"
        if path.suffix == ".yml":
            issues.append(CatalogueIssue(rel, "", "only *.yaml files are read: rename it to end in .yaml"))
            continue
        if path.suffix != ".yaml" or not path.is_file():
            continue
        model = load_model_file(path, rel, categories, issues)
        if model is None:
            continue
        if model.code in files:
            issues.append(CatalogueIssue(rel, "code", f"model {model.code!r} also in {files[model.code]}"))
            continue
        files[model.code] = rel
        out[model.code] = model
    return out
