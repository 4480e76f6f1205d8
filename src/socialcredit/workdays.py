"""Working days for due-process deadlines: Monday to Friday, less PRC public holidays, plus make-up days.

The State Council announces each year's holidays and the weekend days worked in exchange (调休) a few weeks
ahead; the table below holds the years announced so far. Outside those years only weekends count: a missing
holiday makes a deadline a few days early, so operators extend the table each December (docs/due-process.md).
"""

from __future__ import annotations

import datetime as dt

from .registry.state import day_end, local_date

__all__ = ["HOLIDAYS", "MAKEUP_WORKDAYS", "add_working_days", "deadline", "is_working_day"]


def _span(first: str, last: str) -> set[dt.date]:
    a, b = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return {a + dt.timedelta(days=i) for i in range((b - a).days + 1)}


# State Council notices on the 2025 holidays (国办发明电〔2024〕12号) and 2026 (document number unverified).
HOLIDAYS: frozenset[dt.date] = frozenset(
    _span("2025-01-01", "2025-01-01")
    | _span("2025-01-28", "2025-02-04")
    | _span("2025-04-04", "2025-04-06")
    | _span("2025-05-01", "2025-05-05")
    | _span("2025-05-31", "2025-06-02")
    | _span("2025-10-01", "2025-10-08")
    | _span("2026-01-01", "2026-01-03")
    | _span("2026-02-15", "2026-02-23")
    | _span("2026-04-04", "2026-04-06")
    | _span("2026-05-01", "2026-05-05")
    | _span("2026-06-19", "2026-06-21")
    | _span("2026-09-25", "2026-09-27")
    | _span("2026-10-01", "2026-10-07")
)
# Weekend days that are worked in exchange for a bridged holiday.
MAKEUP_WORKDAYS: frozenset[dt.date] = frozenset(
    dt.date.fromisoformat(d)
    for d in (
        "2025-01-26",
        "2025-02-08",
        "2025-04-27",
        "2025-09-28",
        "2025-10-11",
        "2026-01-04",
        "2026-02-14",
        "2026-02-28",
        "2026-05-09",
        "2026-09-20",
        "2026-10-10",
    )
)


def is_working_day(day: dt.date) -> bool:
    if day in MAKEUP_WORKDAYS:
        return True
    return day.weekday() < 5 and day not in HOLIDAYS


def add_working_days(day: dt.date, n: int) -> dt.date:
    """The ``n``-th working day after ``day`` (``day`` itself never counts)."""
    if n < 0:
        raise ValueError(f"n: {n} is negative")
    while n:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            n -= 1
    return day


def deadline(start: dt.datetime, days: int, working_days: bool) -> dt.datetime:
    """The end (next local midnight) of the last of ``days`` days counted from the day after ``start``."""
    first = local_date(start)
    last = add_working_days(first, days) if working_days else first + dt.timedelta(days=days)
    return day_end(last)
