"""Small helpers shared by the due-process steps: text checks and row conversion."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from .errors import ProcessInvalid

__all__ = ["as_dict", "required_text"]

_MAX_TEXT = 10_000


def required_text(field: str, value: str | None, limit: int = _MAX_TEXT) -> str:
    """``value`` stripped; an error naming ``field`` if it is empty, too long or holds control characters."""
    text = (value or "").strip()
    if not text:
        raise ProcessInvalid(field, value, "is required and may not be empty")
    if len(text) > limit:
        raise ProcessInvalid(field, text[:40] + "...", f"longer than {limit} characters")
    if any(ord(c) < 32 and c not in "\n\t\r" for c in text):
        raise ProcessInvalid(field, text[:40], "contains control characters")
    return text


def as_dict(row: Row[Any]) -> dict[str, Any]:
    """A row as JSON-ready values (datetimes as ISO 8601)."""
    out: dict[str, Any] = {}
    for k, v in row._mapping.items():
        out[str(k)] = v.isoformat() if hasattr(v, "isoformat") else v
    return out
