"""Rule-of-law lints over a parsed catalogue (DESIGN.md section 1).

A category needs a legal basis and an end; a measure needs a department and a legal basis; and no measure may
reach a protected action (seeing one's file, objecting, appealing, counsel, repair), whether it names the action,
a prefix above it, or anything below it.
"""

from __future__ import annotations

import re

from .model import Action, Authority, Category, Memorandum

__all__ = ["lint"]

_CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


def _covers(pattern: str, action: str) -> bool:
    return action == pattern or action.startswith(pattern + ".")


def lint(
    authorities: dict[str, Authority],
    actions: dict[str, Action],
    protected: tuple[str, ...],
    categories: dict[str, Category],
    memoranda: dict[str, Memorandum],
    memo_files: dict[str, str],
) -> list["CatalogueIssue"]:
    from .loader import CatalogueIssue

    out: list[CatalogueIssue] = []
    for code, auth in authorities.items():
        if auth.parent is not None and auth.parent not in authorities:
            out.append(CatalogueIssue("authorities.yaml", f"authorities.{code}.parent",
                                      f"unknown authority {auth.parent!r}"))
    for code in actions:
        if not _CODE.match(code):
            out.append(CatalogueIssue("actions.yaml", f"actions.{code}", "action codes are dotted lower_snake_case"))
    if not protected:
        out.append(CatalogueIssue("actions.yaml", "protected", "the protected actions must be listed"))
    for i, p in enumerate(protected):
        if not any(_covers(p, a) for a in actions):
            out.append(CatalogueIssue("actions.yaml", f"protected.{i}", f"protected prefix {p!r} names no action"))

    for code, cat in categories.items():
        where = f"categories.{code}"
        if not _CODE.match(code):
            out.append(CatalogueIssue("categories.yaml", where, "category codes are dotted lower_snake_case"))
        if not cat.legal_basis:
            out.append(CatalogueIssue("categories.yaml", f"{where}.legal_basis", "a category needs a legal basis"))
        if cat.duration_days is None and not cat.ends_by_fulfilment:
            out.append(CatalogueIssue("categories.yaml", f"{where}.duration_days",
                                      "a category needs an end: duration_days, or ends_by_fulfilment"))
        if cat.max_duration_days is not None and cat.duration_days and cat.max_duration_days < cat.duration_days:
            out.append(CatalogueIssue("categories.yaml", f"{where}.max_duration_days",
                                      "max_duration_days is shorter than duration_days"))
        if cat.publication and cat.publication.min_days > cat.publication.max_days:
            out.append(CatalogueIssue("categories.yaml", f"{where}.publication",
                                      "min_days is longer than max_days"))
        for i, a in enumerate(cat.authorities):
            if a not in authorities:
                out.append(CatalogueIssue("categories.yaml", f"{where}.authorities.{i}", f"unknown authority {a!r}"))
        if not cat.source:
            out.append(CatalogueIssue("categories.yaml", f"{where}.source", "cite the source document"))

    seen_measures: dict[str, str] = {}
    for mcode, memo in memoranda.items():
        file = memo_files[mcode]
        if not memo.source:
            out.append(CatalogueIssue(file, "source", "cite the source document"))
        for i, s in enumerate(memo.signatories):
            if s not in authorities:
                out.append(CatalogueIssue(file, f"signatories.{i}", f"unknown authority {s!r}"))
        for i, t in enumerate(memo.triggers):
            if t not in categories:
                out.append(CatalogueIssue(file, f"triggers.{i}", f"unknown category {t!r}"))
        for j, m in enumerate(memo.measures):
            where = f"measures.{j}"
            key = f"{mcode}.{m.code}"
            if key in seen_measures:
                out.append(CatalogueIssue(file, f"{where}.code", f"measure {m.code!r} appears twice"))
            seen_measures[key] = file
            if not m.department:
                out.append(CatalogueIssue(file, f"{where}.department", "a measure needs a department"))
            elif m.department not in authorities:
                out.append(CatalogueIssue(file, f"{where}.department", f"unknown department {m.department!r}"))
            if not m.legal_basis:
                out.append(CatalogueIssue(file, f"{where}.legal_basis", "a measure needs a legal basis"))
            for k, pattern in enumerate(m.actions):
                path = f"{where}.actions.{k}"
                if pattern not in actions:
                    out.append(CatalogueIssue(file, path, f"unknown action {pattern!r}"))
                hit = [p for p in protected if _covers(pattern, p) or _covers(p, pattern)]
                if hit:
                    out.append(CatalogueIssue(
                        file, path,
                        f"measure {m.code!r} reaches protected action {hit[0]!r}: "
                        "seeing one's file, objecting, appealing, counsel and repair may never be restricted",
                    ))
            red = [t for t in memo.triggers if t in categories and categories[t].list == "red"]
            if m.effect == "expedite" and len(red) != len(memo.triggers):
                out.append(CatalogueIssue(file, f"{where}.effect",
                                          "an expedite (reward) measure may only be triggered by red-list categories"))
            if m.effect != "expedite" and red:
                out.append(CatalogueIssue(file, f"{where}.effect",
                                          f"red-list category {red[0]!r} may only trigger expedite (reward) measures"))
            for reach in m.applies_to:
                if reach != "subject" and any(
                    t in categories and "organisation" not in categories[t].subject_kinds for t in memo.triggers
                ):
                    out.append(CatalogueIssue(file, f"{where}.applies_to",
                                              f"{reach!r} reaches only organisations' linked persons"))
    return out
