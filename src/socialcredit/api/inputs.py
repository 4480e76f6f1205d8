"""Shared validators of request input, so that no value a client can send reaches the store or the clock and
comes back as a 500. Each refusal is a 422 naming the field, the value and the reason.

::

    PlainText / FreeText     text without control characters (FreeText, for prose, allows tab and newline)
    text_problem(value)      why a text is refused, or None (the one rule both types and query checks apply)
    plain_query(value, loc)  the rule for a query parameter checked by hand
    MAX_ID                   the largest id, sequence number or cursor (declared as ``le=`` by the routes)
    bounded(n, loc)          the same bound for an integer parsed by hand (a cursor)
    instant(value, loc)      an ISO 8601 date or instant, as UTC, inside the registry's range of dates

Control characters (U+0000-U+001F, U+007F) mean nothing in a name, an identifier, a URL or a label; NUL is
refused by PostgreSQL outright (SQLite stores it), so both stores answer alike only if the API refuses them
first. A lone surrogate (a JSON escape such as ``\\ud800`` read alone) is half of a character and cannot be
encoded as UTF-8 at all. Prose (grounds, reasons, summaries) may hold tab and newline, as the import rule of the
registry allows (decision 0312).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from ..registry import day_end, day_start, parse_instant
from ..registry.rows import DATE_RANGE
from .errors import Invalid, field_error

__all__ = [
    "INSTANT_RANGE",
    "MAX_ID",
    "FreeText",
    "PlainText",
    "bounded",
    "instant",
    "plain_query",
    "text_problem",
]

# Ids and sequence numbers are BIGINT on PostgreSQL and INTEGER (signed 64-bit) on SQLite; 2**62 leaves room
# for the arithmetic of a cursor (``after + 1``) and is more than the store will ever hold.
MAX_ID = 2**62

_LINE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_PROSE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")

# Instants are accepted within the registry's dates (local midnight of the first day to the end of the last):
# the years 1 and 9999 overflow Python's dates once converted to UTC or moved by a day.
INSTANT_RANGE = (day_start(DATE_RANGE[0]), day_end(DATE_RANGE[1]))


def text_problem(value: str, *, prose: bool = False) -> str | None:
    """Why ``value`` is not acceptable text, or None. ``prose`` allows tab and newline."""
    bad = (_PROSE if prose else _LINE).search(value)
    if bad is None:
        return None
    char = bad.group()
    if "\ud800" <= char <= "\udfff":
        return f"contains a lone surrogate U+{ord(char):04X} (half of a character), not text"
    allowed = " (tab and newline are allowed)" if prose else ""
    return f"contains the control character U+{ord(char):04X} at position {bad.start()}{allowed}"


def _line(value: str) -> str:
    if (reason := text_problem(value)) is not None:
        raise PydanticCustomError("control_characters", reason)
    return value


def _prose(value: str) -> str:
    if (reason := text_problem(value, prose=True)) is not None:
        raise PydanticCustomError("control_characters", reason)
    return value


PlainText = Annotated[str, AfterValidator(_line)]
FreeText = Annotated[str, AfterValidator(_prose)]


def plain_query(value: str | None, loc: list[str | int]) -> str | None:
    """``value`` unless it breaks the :data:`PlainText` rule (a 422 naming ``loc``)."""
    if value is not None and (reason := text_problem(value)) is not None:
        raise Invalid(f"{'.'.join(str(p) for p in loc)}: {reason}", [field_error(loc, value, reason)])
    return value


def bounded(n: int, loc: list[str | int], low: int = 0, high: int = MAX_ID) -> int:
    """``n`` if ``low <= n <= high``; else a 422 (a larger number would overflow the store's integers)."""
    if not low <= n <= high:
        reason = f"out of range: expected {low} to {high}"
        raise Invalid(f"{'.'.join(str(p) for p in loc)}: {reason}", [field_error(loc, n, reason)])
    return n


def instant(value: str | None, loc: list[str | int]) -> dt.datetime | None:
    """An ISO 8601 date (local midnight) or date-time (naive: China time) as UTC; None for None.

    A 422 naming ``loc`` if it is not one, or lies outside :data:`INSTANT_RANGE` (including the instants that
    overflow when converted to UTC, such as ``0001-01-01`` or ``9999-12-31T23:59:59-14:00``)."""
    if value is None:
        return None
    where = ".".join(str(p) for p in loc)
    try:
        parsed = parse_instant(value)
    except OverflowError:
        parsed = None
    except (ValueError, TypeError):
        reason = "expected an ISO 8601 date or date-time"
        raise Invalid(f"{where}: {reason}", [field_error(loc, value, reason)]) from None
    low, high = INSTANT_RANGE
    if parsed is None or not low <= parsed < high:
        reason = f"out of range: expected an instant from {DATE_RANGE[0]} to {DATE_RANGE[1]} (China time)"
        raise Invalid(f"{where}: {reason}", [field_error(loc, value, reason)])
    return parsed
