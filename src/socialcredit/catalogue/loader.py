"""Load a catalogue directory, validate it, and lint it for the rule of law.

Loading never stops at the first problem: every error is collected with its file and path and raised together
in one :class:`CatalogueError`, so ``socialcredit catalogue validate`` can list them all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .model import Action, Authority, Category, Measure, Memorandum

__all__ = [
    "Catalogue",
    "CatalogueError",
    "CatalogueIssue",
    "covers",
    "default_catalogue",
    "default_dir",
    "load_catalogue",
]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class CatalogueIssue:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}" if self.path else f"{self.file}: {self.message}"


class CatalogueError(Exception):
    """The catalogue cannot be loaded; ``issues`` lists every problem found."""

    def __init__(self, issues: list[CatalogueIssue]) -> None:
        self.issues = issues
        super().__init__(f"{len(issues)} catalogue error(s):\n" + "\n".join(f"  {i}" for i in issues))


def covers(pattern: str, action: str) -> bool:
    """A measure on ``transport.rail`` covers ``transport.rail`` and every ``transport.rail.*``."""
    return action == pattern or action.startswith(pattern + ".")


@dataclass(frozen=True)
class Catalogue:
    version: str
    title: str
    authorities: dict[str, Authority]
    actions: dict[str, Action]
    protected: tuple[str, ...]
    categories: dict[str, Category]
    memoranda: dict[str, Memorandum]
    _by_category: dict[str, tuple[tuple[Memorandum, Measure], ...]] = field(default_factory=dict, repr=False)

    def measures_for(self, category: str) -> tuple[tuple[Memorandum, Measure], ...]:
        """Every (memorandum, measure) that a record of ``category`` triggers."""
        return self._by_category.get(category, ())

    def is_protected(self, action: str) -> bool:
        return any(covers(p, action) for p in self.protected)

    def can_file(self, authority: str, category: str) -> bool:
        cat = self.categories.get(category)
        return cat is not None and authority in cat.authorities


def default_dir() -> Path:
    return Path(str(resources.files("socialcredit.catalogue") / "default"))


def _yaml(path: Path, root: Path, issues: list[CatalogueIssue]) -> Any:
    rel = str(path.relative_to(root.parent)) if path.is_relative_to(root.parent) else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        issues.append(CatalogueIssue(rel, "", "file is missing"))
        return None
    except UnicodeDecodeError as exc:
        issues.append(CatalogueIssue(rel, "", f"not UTF-8 ({exc.reason} at byte {exc.start})"))
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        issues.append(CatalogueIssue(rel, "", f"invalid YAML: {exc}".replace("\n", " ")))
        return None


def _models(
    data: Any, key: str, model: type[M], file: str, issues: list[CatalogueIssue]
) -> Iterator[tuple[str, M]]:
    """Parse ``data[key]``, a mapping of code -> fields, into models, recording errors with their paths."""
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        issues.append(CatalogueIssue(file, key, f"expected a mapping under {key!r}"))
        return
    for code, fields in data[key].items():
        body = dict(fields or {})
        body.setdefault("code", str(code))
        try:
            yield str(code), model.model_validate(body)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                issues.append(CatalogueIssue(file, f"{key}.{code}.{loc}", err["msg"]))


def load_catalogue(directory: Path | str | None = None) -> Catalogue:
    """Load and lint a catalogue directory (the shipped default when ``directory`` is None)."""
    root = Path(directory) if directory is not None else default_dir()
    issues: list[CatalogueIssue] = []
    if not root.is_dir():
        raise CatalogueError([CatalogueIssue(str(root), "", "not a directory")])
    digest = hashlib.sha256()
    for p in sorted(root.rglob("*.yaml")):
        digest.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())

    head = _yaml(root / "catalogue.yaml", root, issues) or {}
    authorities = dict(_models(_yaml(root / "authorities.yaml", root, issues), "authorities", Authority,
                               "authorities.yaml", issues))
    action_data = _yaml(root / "actions.yaml", root, issues)
    actions = dict(_models(action_data, "actions", Action, "actions.yaml", issues))
    protected = tuple(str(p) for p in (action_data or {}).get("protected", []) or [])
    categories = dict(_models(_yaml(root / "categories.yaml", root, issues), "categories", Category,
                              "categories.yaml", issues))
    memoranda: dict[str, Memorandum] = {}
    memo_files: dict[str, str] = {}
    for path in sorted((root / "memoranda").glob("*.yaml")):
        rel = f"memoranda/{path.name}"
        data = _yaml(path, root, issues)
        if not isinstance(data, dict):
            issues.append(CatalogueIssue(rel, "", "expected a mapping with one memorandum"))
            continue
        try:
            memo = Memorandum.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                issues.append(CatalogueIssue(rel, ".".join(str(p) for p in err["loc"]), err["msg"]))
            continue
        if memo.code in memoranda:
            issues.append(CatalogueIssue(rel, "code", f"memorandum {memo.code!r} also in {memo_files[memo.code]}"))
            continue
        memoranda[memo.code] = memo
        memo_files[memo.code] = rel

    from .lint import lint  # the rules live beside the loader; imported here to keep the loader short

    issues.extend(lint(authorities, actions, protected, categories, memoranda, memo_files))
    if issues:
        raise CatalogueError(issues)
    by_category: dict[str, list[tuple[Memorandum, Measure]]] = {}
    for memo in memoranda.values():
        for cat in memo.triggers:
            by_category.setdefault(cat, []).extend((memo, m) for m in memo.measures)
    return Catalogue(
        version=f"{head.get('version', '0')}+{digest.hexdigest()[:10]}",
        title=str(head.get("title", "")),
        authorities=authorities,
        actions=actions,
        protected=protected,
        categories=categories,
        memoranda=memoranda,
        _by_category={k: tuple(v) for k, v in by_category.items()},
    )


@lru_cache(maxsize=4)
def _cached(directory: str | None) -> Catalogue:
    return load_catalogue(directory)


def default_catalogue(directory: str | None = None) -> Catalogue:
    """The catalogue this process runs on, loaded once (``SOCIALCREDIT_CATALOGUE_DIR`` or the shipped one)."""
    if directory is None:
        from ..settings import get_settings

        directory = get_settings().catalogue_dir
    return _cached(directory)
