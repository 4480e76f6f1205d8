"""Deterministic demo data: realistic persons and organisations with valid identifiers, records across every
catalogue category, and their lifecycle, generated from a seed and filed through the registry."""

from .generate import (
    ANCHOR,
    FIXED,
    Change,
    DemoData,
    Filed,
    Organisation,
    Person,
    Subject,
    default_anchor,
    generate,
)
from .load import DemoError, LoadReport, check_rows, load

__all__ = [
    "ANCHOR",
    "FIXED",
    "Change",
    "DemoData",
    "DemoError",
    "Filed",
    "LoadReport",
    "Organisation",
    "Person",
    "Subject",
    "check_rows",
    "default_anchor",
    "generate",
    "load",
]
