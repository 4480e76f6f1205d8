"""Cheap, valid test data: identifiers with correct check characters, and import rows."""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Any

from stdnum.cn import ric, uscc

from socialcredit.catalogue import Catalogue, Category, load_catalogue

_ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _org_code(n: int) -> str:
    """A GB 11714 organisation code (8 characters + check) from a number."""
    body = f"{n:08d}"[-8:]
    total = sum(_ORG_ALPHABET.index(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def org_id(n: int, region: str = "110105", prefix: str = "91") -> str:
    """A valid unified social credit code."""
    body = prefix + region + _org_code(n)
    return body + uscc.calc_check_digit(body)


def person_id(n: int, region: str = "110105", birth: str = "19800101") -> str:
    """A valid resident identity number; ``n`` picks the sequence (odd: male)."""
    body = f"{region}{birth}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum ignores the last character


def row(**overrides: Any) -> dict[str, Any]:
    """A valid judgment-defaulter import row for a person, with fields overridden."""
    base: dict[str, Any] = {
        "external_id": "(2025)京0105执100号",
        "authority": "court",
        "category": "court.judgment_defaulter",
        "subject_id": person_id(11),
        "subject_name": "王芳",
        "decision_no": "(2024)京0105民初100号",
        "decided_on": "2025-06-01",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def category(code: str, **fields: Any) -> Category:
    """A test category filed by ``samr`` about anyone, fields overridden (a catalogue beside the default one)."""
    base: dict[str, Any] = {
        "code": code,
        "list": "black",
        "title": code,
        "authorities": ("samr",),
        "subject_kinds": ("person", "organisation"),
        "legal_basis": f"basis of {code}",
    }
    return Category(**(base | fields))


@lru_cache(maxsize=1)
def registry_catalogue() -> Catalogue:
    """The shipped catalogue plus categories that exercise each end rule (the registry's tests)."""
    base = load_catalogue()
    extra = {
        "test.fixed": category("test.fixed", duration_days=365, max_duration_days=730),
        "test.orgs": category("test.orgs", subject_kinds=("organisation",), duration_days=365),
        "test.open": category("test.open", ends_by_fulfilment=True),
        "test.no_end": category("test.no_end"),
        "test.red": category("test.red", list="red", duration_days=365),
        "test.notice": category("test.notice", duration_days=365, notice_days=10, takes_effect_at_once=False),
    }
    return dataclasses.replace(base, categories={**base.categories, **extra})


def samr(**overrides: Any) -> dict[str, Any]:
    """A row filed by the market regulator in a test category of :func:`registry_catalogue`."""
    return row(**{"authority": "samr", "category": "test.fixed", **overrides})
