"""Rule-of-law lints over a parsed catalogue (DESIGN.md section 1; the list is in docs/catalogue.md).

A category needs a legal basis and an end (a duration, or end-by-fulfilment bounded by a maximum); a measure
needs a department (a signatory of its memorandum) and a legal basis; no measure may reach a protected action
(seeing one's file, objecting, appealing, counsel, repair), whether it names the action, a prefix above it, or
anything below it; red lists only reward and watch lists only review; every reference resolves. A measure with
a ``grade_condition`` (decision 1003) names a model and grades that exist, reaches the subject only, never
punishes a person, and sits in a document without triggers (a record and a grade both triggering one measure
would leave a checkpoint unable to say which one applies it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Set
from typing import TYPE_CHECKING

from .model import Action, Authority, Category, Memorandum

if TYPE_CHECKING:
    from .loader import CatalogueIssue

if TYPE_CHECKING:
    from ..grading.model import ScoringModel

__all__ = ["lint", "lint_grade_conditions"]

_CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
# Reports one issue: file, path, message.
_Issue = Callable[[str, str, str], None]
_PROTECTED_WHY = "seeing one's file, objecting, appealing, counsel and repair may never be restricted"


def _covers(pattern: str, action: str) -> bool:
    return action == pattern or action.startswith(pattern + ".")


def lint(
    authorities: dict[str, Authority],
    actions: dict[str, Action],
    protected: tuple[str, ...],
    categories: dict[str, Category],
    memoranda: dict[str, Memorandum],
    memo_files: dict[str, str],
    *,
    measure_positions: Mapping[str, tuple[int, ...]] | None = None,
    declared: Mapping[str, Set[str]] | None = None,
) -> list[CatalogueIssue]:
    """Every rule broken, each as an issue with its file and path.

    ``measure_positions`` maps a memorandum to the file index of each of its (valid) measures, so paths stay
    right when broken measures were left out; ``declared`` holds the codes of each kind present in the files,
    valid or not, so a reference to a broken entry is not also reported as unknown.
    """
    from .loader import CatalogueIssue

    known = {
        "authority": set(authorities) | set((declared or {}).get("authority", ())),
        "action": set(actions) | set((declared or {}).get("action", ())),
        "category": set(categories) | set((declared or {}).get("category", ())),
    }
    out: list[CatalogueIssue] = []

    def issue(file: str, path: str, message: str) -> None:
        out.append(CatalogueIssue(file, path, message))

    for code, auth in authorities.items():
        if not _CODE.match(code):
            issue("authorities.yaml", f"authorities.{code}", "authority codes are lower_snake_case")
        if auth.parent is not None and auth.parent not in known["authority"]:
            issue("authorities.yaml", f"authorities.{code}.parent", f"unknown authority {auth.parent!r}")

    for code in actions:
        if not _CODE.match(code):
            issue("actions.yaml", f"actions.{code}", f"action code {code!r} is not dotted lower_snake_case")
        elif "." in code and code.rsplit(".", 1)[0] not in known["action"]:
            parent = code.rsplit(".", 1)[0]
            issue("actions.yaml", f"actions.{code}", f"its parent {parent!r} is not declared")
    if not protected:
        issue("actions.yaml", "protected", "the protected actions must be listed")
    for i, p in enumerate(protected):
        if not any(_covers(p, a) for a in actions):
            issue("actions.yaml", f"protected.{i}", f"protected prefix {p!r} names no action")

    for code, cat in categories.items():
        _lint_category(code, cat, known["authority"], issue)

    for mcode, memo in memoranda.items():
        _lint_memorandum(
            memo, memo_files[mcode], (measure_positions or {}).get(mcode), categories, known, protected, issue
        )
    return out


def _lint_category(code: str, cat: Category, authorities: Set[str], issue: _Issue) -> None:
    file, where = "categories.yaml", f"categories.{code}"
    if not _CODE.match(code):
        issue(file, where, f"category code {code!r} is not dotted lower_snake_case")
    if not cat.legal_basis:
        issue(file, f"{where}.legal_basis", "a category needs a legal basis")
    if not cat.source:
        issue(file, f"{where}.source", "cite the source document")
    if cat.duration_days is None and not cat.ends_by_fulfilment:
        issue(file, f"{where}.duration_days", "a category needs an end: duration_days, or ends_by_fulfilment")
    if cat.ends_by_fulfilment and cat.max_duration_days is None:
        issue(file, f"{where}.max_duration_days", "ends_by_fulfilment needs a maximum (max_duration_days)")
    if cat.max_duration_days is not None and cat.duration_days and cat.max_duration_days < cat.duration_days:
        issue(
            file,
            f"{where}.max_duration_days",
            f"max_duration_days {cat.max_duration_days} is shorter than duration_days {cat.duration_days}",
        )
    if cat.publication and cat.publication.min_days > cat.publication.max_days:
        issue(
            file,
            f"{where}.publication",
            f"min_days {cat.publication.min_days} is longer than max_days {cat.publication.max_days}",
        )
    if not cat.takes_effect_at_once and cat.notice_days == 0:
        issue(
            file,
            f"{where}.notice_days",
            "takes_effect_at_once is false, so a notice period (notice_days) is needed",
        )
    if cat.term_from == "notice_end" and cat.takes_effect_at_once:
        issue(
            file, f"{where}.term_from", "notice_end needs a notice period: takes_effect_at_once must be false"
        )
    for i, a in enumerate(cat.authorities):
        if a not in authorities:
            issue(file, f"{where}.authorities.{i}", f"unknown authority {a!r}")


def _lint_memorandum(
    memo: Memorandum,
    file: str,
    positions: tuple[int, ...] | None,
    categories: dict[str, Category],
    known: dict[str, set[str]],
    protected: tuple[str, ...],
    issue: _Issue,
) -> None:
    if not memo.source:
        issue(file, "source", "cite the source document")
    if not memo.triggers and any(m.grade_condition is None for m in memo.measures):
        issue(file, "triggers", "a document needs triggers, unless every measure has a grade_condition")
    for i, s in enumerate(memo.signatories):
        if s not in known["authority"]:
            issue(file, f"signatories.{i}", f"unknown authority {s!r}")
    for i, t in enumerate(memo.triggers):
        if t not in known["category"]:
            issue(file, f"triggers.{i}", f"unknown category {t!r}")
    triggers = [categories[t] for t in memo.triggers if t in categories]
    red = [c.code for c in triggers if c.list == "red"]
    watch = [c.code for c in triggers if c.list == "watch"]
    # Linked persons are reached only through an organisation; a memorandum whose every trigger lists persons
    # only can never reach one (one organisation-capable trigger is enough).
    person_only = bool(triggers) and all("organisation" not in c.subject_kinds for c in triggers)
    seen: set[str] = set()
    for j, m in enumerate(memo.measures):
        where = f"measures.{positions[j] if positions and j < len(positions) else j}"
        if m.code in seen:
            issue(file, f"{where}.code", f"measure {m.code!r} appears twice")
        seen.add(m.code)
        if not m.department:
            issue(file, f"{where}.department", "a measure needs a department")
        elif m.department not in known["authority"]:
            issue(file, f"{where}.department", f"unknown department {m.department!r}")
        elif memo.signatories and m.department not in memo.signatories:
            issue(
                file,
                f"{where}.department",
                f"department {m.department!r} is not a signatory of {memo.code!r}",
            )
        if not m.legal_basis:
            issue(file, f"{where}.legal_basis", "a measure needs a legal basis")
        if m.grade_condition is not None and memo.triggers:
            issue(
                file,
                f"{where}.grade_condition",
                f"measure {m.code!r} has a grade_condition in a document triggered by records "
                f"({', '.join(memo.triggers)}): put grade-conditioned measures in a document without triggers, "
                "so that each measure has one cause (decision 1003)",
            )
        for k, pattern in enumerate(m.actions):
            path = f"{where}.actions.{k}"
            if pattern not in known["action"]:
                issue(file, path, f"unknown action {pattern!r}")
            hit = [p for p in protected if _covers(pattern, p) or _covers(p, pattern)]
            if hit:
                issue(
                    file,
                    path,
                    f"measure {m.code!r} on {pattern!r} reaches protected action {hit[0]!r}: "
                    + _PROTECTED_WHY,
                )
        if m.effect == "expedite" and len(red) != len(triggers):
            issue(
                file,
                f"{where}.effect",
                "an expedite (reward) measure may only be triggered by red-list categories",
            )
        if m.effect != "expedite" and red:
            issue(
                file,
                f"{where}.effect",
                f"red-list category {red[0]!r} may only trigger expedite (reward) measures",
            )
        if m.effect != "review" and watch:
            issue(
                file,
                f"{where}.effect",
                f"watch-list category {watch[0]!r} may only trigger review measures, not {m.effect!r}",
            )
        if person_only:
            for reach in m.applies_to:
                if reach != "subject":
                    issue(
                        file,
                        f"{where}.applies_to",
                        f"{reach!r} reaches organisations' linked persons; every trigger lists persons only",
                    )


def lint_grade_conditions(
    memoranda: Mapping[str, Memorandum],
    memo_files: Mapping[str, str],
    measure_positions: Mapping[str, tuple[int, ...]],
    models: Mapping[str, ScoringModel],
    declared_models: Set[str],
) -> list[CatalogueIssue]:
    """The grade conditions of every measure, against the scoring models (loaded after the memoranda)."""
    from .loader import CatalogueIssue

    out: list[CatalogueIssue] = []
    for mcode, memo in memoranda.items():
        file, positions = memo_files[mcode], measure_positions.get(mcode)
        for j, m in enumerate(memo.measures):
            cond = m.grade_condition
            if cond is None:
                continue
            where = f"measures.{positions[j] if positions and j < len(positions) else j}.grade_condition"
            if any(reach != "subject" for reach in m.applies_to):
                out.append(
                    CatalogueIssue(
                        file,
                        f"{where[: -len('grade_condition')]}applies_to",
                        f"measure {m.code!r} is conditioned on the subject's own grade: it reaches the subject "
                        "only (applies_to: [subject])",
                    )
                )
            model = models.get(cond.model)
            if model is None:
                if cond.model not in declared_models:
                    known = ", ".join(sorted(models)) or "none"
                    out.append(
                        CatalogueIssue(
                            file, f"{where}.model", f"unknown model {cond.model!r} (known: {known})"
                        )
                    )
                continue
            bands = [b.grade for b in model.grades]
            for k, g in enumerate(cond.grades):
                if g not in bands:
                    out.append(
                        CatalogueIssue(
                            file,
                            f"{where}.grades.{k}",
                            f"model {model.code!r} has no grade {g!r} (grades: {', '.join(bands)})",
                        )
                    )
            if model.kind == "person" and (m.effect != "expedite" or not model.reward_only):
                out.append(
                    CatalogueIssue(
                        file,
                        f"{where}.model",
                        f"measure {m.code!r} ({m.effect}) on a grade of persons under model {model.code!r}: a "
                        "person's grade may only reward (expedite, under a reward-only model); national policy "
                        "allows evaluating individuals for rewards, not for punishment (docs/grading.md)",
                    )
                )
    return out
