"""Load a catalogue directory, validate it, and lint it for the rule of law.

Loading never stops at the first problem: every error is collected with its file and path and raised together
in one :class:`CatalogueError`, so ``socialcredit catalogue validate`` can list them all. An entry that fails
validation is left out of the cross-reference lints only; the lints still run over everything else, and a
reference to a declared-but-broken entry is not reported a second time as "unknown".
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
from collections.abc import Hashable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .model import Action, Authority, Category, Measure, Memorandum

if TYPE_CHECKING:
    from ..grading.model import ScoringModel
    from ..supervision.policy import SupervisionPolicy

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

# The top-level keys each file may hold; anything else is a misspelling worth reporting.
_TOP_KEYS = {
    "catalogue.yaml": {"version", "title"},
    "authorities.yaml": {"authorities"},
    "actions.yaml": {"actions", "protected"},
    "categories.yaml": {"categories"},
}


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
    # Scoring models (models/*.yaml), by code: socialcredit.grading.
    models: dict[str, ScoringModel] = field(default_factory=dict)
    # Random-inspection policies (supervision/*.yaml), by authority: socialcredit.supervision.
    supervision: dict[str, SupervisionPolicy] = field(default_factory=dict)
    # Per action, the grade-conditioned measures that cover it (decision 1003): a check looks it up once.
    _graded_on: dict[str, tuple[tuple[Memorandum, Measure], ...]] = field(default_factory=dict, repr=False)

    def measures_for(self, category: str) -> tuple[tuple[Memorandum, Measure], ...]:
        """Every (memorandum, measure) that a record of ``category`` triggers."""
        return self._by_category.get(category, ())

    def graded_measures(self, action: str | None = None) -> tuple[tuple[Memorandum, Measure], ...]:
        """Every (memorandum, measure) conditioned on a grade (decision 1003), on ``action`` if given: a measure
        on ``approval`` is on ``approval.licence``, and a key scoped to ``approval`` reaches one on
        ``approval.licence``."""
        return tuple(
            (memo, m)
            for memo in self.memoranda.values()
            for m in memo.measures
            if m.grade_condition is not None
            and (action is None or any(covers(p, action) or covers(action, p) for p in m.actions))
        )

    def graded_on(self, action: str) -> tuple[tuple[Memorandum, Measure], ...]:
        """The grade-conditioned measures that apply to a check of ``action`` (on it or a prefix above it)."""
        return self._graded_on.get(action, ())

    def is_protected(self, action: str) -> bool:
        return any(covers(p, action) for p in self.protected)

    def can_file(self, authority: str, category: str) -> bool:
        cat = self.categories.get(category)
        return cat is not None and authority in cat.authorities


def default_dir() -> Path:
    return Path(str(resources.files("socialcredit.catalogue") / "default"))


# libyaml's parser when PyYAML was built with it (about 5x faster), else the pure-Python one; both safe.
_SafeBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeBase):  # type: ignore[valid-type,misc]
    """Safe YAML that refuses a key given twice in one mapping (plain YAML silently keeps the last)."""


def _unique_mapping(
    loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Hashable, Any]:
    seen: set[Hashable] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, Hashable):
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
    mapping: dict[Hashable, Any] = loader.construct_mapping(node, deep)
    return mapping


def _lenient_timestamp(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> Any:
    """An impossible date (2016-13-45) stays text, so the field check names it instead of YAML crashing."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", _lenient_timestamp)


def _one_mapping(path: Path, rel: str, issues: list[CatalogueIssue], what: str) -> dict[str, Any] | None:
    """A file that holds one mapping (a scoring model, a supervision policy); None, with the issue, otherwise."""
    before = len(issues)
    data = _yaml(path, rel, issues)
    if data is None:
        if len(issues) == before:
            issues.append(CatalogueIssue(rel, "", "the file is empty"))
        return None
    if not isinstance(data, dict):
        issues.append(
            CatalogueIssue(rel, "", f"expected a mapping with one {what}, got {type(data).__name__}")
        )
        return None
    return data


def _yaml(path: Path, rel: str, issues: list[CatalogueIssue]) -> Any:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        issues.append(CatalogueIssue(rel, "", "file is missing"))
        return None
    except OSError as exc:
        issues.append(CatalogueIssue(rel, "", f"cannot be read: {exc.strerror or exc}"))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        issues.append(
            CatalogueIssue(rel, "", f"not UTF-8 ({exc.reason} at byte {exc.start}); save it as UTF-8")
        )
        return None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        issues.append(CatalogueIssue(rel, "", f"invalid YAML: {exc}".replace("\n", " ")))
        return None


def _model_at(model: type[BaseModel], path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model whose fields sit at ``path`` below ``model`` (indices of tuples skipped), or None."""
    for part in path:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(str(part))
        if info is None:
            return None
        inner = _nested_model(info.annotation)
        if inner is None:
            return None
        model = inner
    return model


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):  # X | None, tuple[X, ...]
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def _unknown_field(err: ErrorDetails, model: type[BaseModel] | None) -> str:
    name = str(err["loc"][-1])
    owner = _model_at(model, tuple(err["loc"][:-1])) if model is not None else None
    known = sorted(owner.model_fields) if owner is not None else []
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"unknown field {name!r} (misspelt? the closest known field is {close[0]!r})"
    if known:
        return f"unknown field {name!r} (known: {', '.join(known)})"
    return f"unknown field {name!r} (misspelt?)"


def _describe(err: ErrorDetails, model: type[BaseModel] | None = None) -> str:
    """One pydantic error in words a catalogue author can act on, naming the value given (and, for an unknown
    field, the closest field ``model`` knows at that place)."""
    if err["type"] == "extra_forbidden":
        return _unknown_field(err, model)
    if err["type"] == "missing":
        return "required field is missing"
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    return f"{err['msg']} (got {shown})"


def _record(
    exc: ValidationError, file: str, prefix: str, issues: list[CatalogueIssue], model: type[BaseModel]
) -> None:
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        issues.append(CatalogueIssue(file, f"{prefix}.{loc}" if loc else prefix, _describe(err, model)))


def _check_top(data: Any, file: str, issues: list[CatalogueIssue]) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        issues.append(CatalogueIssue(file, "", f"expected a mapping at the top, got {type(data).__name__}"))
        return {}
    for key in data:
        if key not in _TOP_KEYS[file]:
            allowed = ", ".join(sorted(_TOP_KEYS[file]))
            issues.append(CatalogueIssue(file, str(key), f"unknown key {key!r} (allowed: {allowed})"))
    return data


def _models(
    data: dict[str, Any], key: str, model: type[M], file: str, issues: list[CatalogueIssue]
) -> tuple[dict[str, M], set[str]]:
    """Parse ``data[key]``, a mapping of code -> fields; return the valid models and every declared code."""
    body = data.get(key)
    if not isinstance(body, dict):
        issues.append(CatalogueIssue(file, key, f"expected a mapping of codes to fields under {key!r}"))
        return {}, set()
    valid: dict[str, M] = {}
    for code, fields in body.items():
        where = f"{key}.{code}"
        if fields is not None and not isinstance(fields, dict):
            issues.append(CatalogueIssue(file, where, f"expected a mapping of fields, got {fields!r}"))
            continue
        values = dict(fields or {})
        values.setdefault("code", str(code))
        try:
            valid[str(code)] = model.model_validate(values)
        except ValidationError as exc:
            _record(exc, file, where, issues, model)
    return valid, {str(c) for c in body}


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list | tuple) else ()


@dataclass
class _Memos:
    """What the memoranda files held: valid memoranda, plus stand-ins for broken ones so lints still run."""

    valid: dict[str, Memorandum] = field(default_factory=dict)
    linted: dict[str, Memorandum] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    positions: dict[str, tuple[int, ...]] = field(default_factory=dict)


def _memorandum(path: Path, rel: str, memos: _Memos, issues: list[CatalogueIssue]) -> None:
    data = _yaml(path, rel, issues)
    if data is None:
        return
    if not isinstance(data, dict):
        issues.append(
            CatalogueIssue(rel, "", f"expected a mapping with one memorandum, got {type(data).__name__}")
        )
        return
    raw = data.get("measures")
    measures: list[Measure] = []
    positions: list[int] = []
    head = dict(data)
    if isinstance(raw, list) and raw:
        # Each measure is validated alone, so one bad measure does not hide the lints of the others.
        for j, item in enumerate(raw):
            if not isinstance(item, dict):
                issues.append(
                    CatalogueIssue(rel, f"measures.{j}", f"expected a mapping of fields, got {item!r}")
                )
                continue
            try:
                measures.append(Measure.model_validate(item))
                positions.append(j)
            except ValidationError as exc:
                _record(exc, rel, f"measures.{j}", issues, Measure)
        head["measures"] = measures
    given = data.get("code")
    code = given if isinstance(given, str) and given else f"<{rel}>"
    try:
        memo = Memorandum.model_validate(head)
    except ValidationError as exc:
        for err in exc.errors():
            if err["loc"] == ("measures",) and isinstance(raw, list) and raw:
                continue  # every measure was broken and is already reported
            loc = ".".join(str(p) for p in err["loc"])
            issues.append(CatalogueIssue(rel, loc, _describe(err, Memorandum)))
        memo = Memorandum.model_construct(
            code=code,
            title=str(data.get("title", "")),
            date=dt.date.min,
            signatories=_strings(data.get("signatories")),
            triggers=_strings(data.get("triggers")),
            source=str(data.get("source") or ""),
            measures=tuple(measures),
        )
        valid = False
    else:
        valid = True
    if memo.code in memos.files:
        issues.append(
            CatalogueIssue(rel, "code", f"memorandum {memo.code!r} also in {memos.files[memo.code]}")
        )
        return
    memos.linted[memo.code] = memo
    memos.files[memo.code] = rel
    memos.positions[memo.code] = tuple(positions) if isinstance(raw, list) and raw else ()
    if valid:
        memos.valid[memo.code] = memo


def load_catalogue(directory: Path | str | None = None) -> Catalogue:
    """Load and lint a catalogue directory (the shipped default when ``directory`` is None)."""
    root = Path(directory) if directory is not None else default_dir()
    issues: list[CatalogueIssue] = []
    if not root.is_dir():
        raise CatalogueError([CatalogueIssue(str(root), "", "not a directory")])
    digest = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*.yaml") if q.is_file()):
        digest.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())

    head_data = _yaml(root / "catalogue.yaml", "catalogue.yaml", issues)
    head = _check_top(head_data, "catalogue.yaml", issues)
    if isinstance(head_data, dict) and not isinstance(head.get("version"), str | int | float):
        issues.append(CatalogueIssue("catalogue.yaml", "version", 'a version is required, e.g. "2026.1"'))
    auth_data = _check_top(
        _yaml(root / "authorities.yaml", "authorities.yaml", issues), "authorities.yaml", issues
    )
    authorities, auth_codes = _models(auth_data, "authorities", Authority, "authorities.yaml", issues)
    action_data = _check_top(_yaml(root / "actions.yaml", "actions.yaml", issues), "actions.yaml", issues)
    actions, action_codes = _models(action_data, "actions", Action, "actions.yaml", issues)
    raw_protected = action_data.get("protected", [])
    if not isinstance(raw_protected, list) or not all(isinstance(p, str) for p in raw_protected):
        issues.append(CatalogueIssue("actions.yaml", "protected", "expected a list of action codes"))
    protected = _strings(raw_protected)
    cat_data = _check_top(
        _yaml(root / "categories.yaml", "categories.yaml", issues), "categories.yaml", issues
    )
    categories, cat_codes = _models(cat_data, "categories", Category, "categories.yaml", issues)

    memos = _Memos()
    memo_dir = root / "memoranda"
    for path in sorted(memo_dir.iterdir()) if memo_dir.is_dir() else []:
        rel = f"memoranda/{path.name}"
        if path.suffix.lower() in {".yml", ".yaml"} and path.suffix != ".yaml":
            issues.append(CatalogueIssue(rel, "", "only *.yaml files are read: rename it to end in .yaml"))
        elif path.suffix == ".yaml" and path.is_file():
            _memorandum(path, rel, memos, issues)

    from .lint import lint  # the rules live beside the loader; imported here to keep the loader short

    issues.extend(
        lint(
            authorities,
            actions,
            protected,
            categories,
            memos.linted,
            memos.files,
            measure_positions=memos.positions,
            declared={"authority": auth_codes, "action": action_codes, "category": cat_codes},
        )
    )
    from ..grading.lint import load_models  # scoring models are linted against the categories

    models = load_models(root, categories, issues)
    from .lint import lint_grade_conditions  # grade conditions name models, so they are linted after them

    model_dir = root / "models"
    declared_models = {p.stem for p in model_dir.glob("*.yaml")} if model_dir.is_dir() else set()
    issues.extend(lint_grade_conditions(memos.linted, memos.files, memos.positions, models, declared_models))
    from ..supervision.policy import load_policies  # inspection policies are linted against the models

    supervision = load_policies(root, authorities, models, issues)
    if issues:
        raise CatalogueError(issues)
    by_category: dict[str, list[tuple[Memorandum, Measure]]] = {}
    for memo in memos.valid.values():
        for cat in memo.triggers:
            by_category.setdefault(cat, []).extend((memo, m) for m in memo.measures)
    graded = [(memo, m) for memo in memos.valid.values() for m in memo.measures if m.grade_condition]
    graded_on = {
        a: tuple((memo, m) for memo, m in graded if any(covers(p, a) for p in m.actions)) for a in actions
    }
    return Catalogue(
        version=f"{head.get('version', '0')}+{digest.hexdigest()[:10]}",
        title=str(head.get("title", "")),
        authorities=authorities,
        actions=actions,
        protected=protected,
        categories=categories,
        memoranda=memos.valid,
        _by_category={k: tuple(v) for k, v in by_category.items()},
        models=models,
        supervision=supervision,
        _graded_on={a: hits for a, hits in graded_on.items() if hits},
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
