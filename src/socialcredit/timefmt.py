"""Instants as people and programs read them (decision 0701).

People (CLI tables and lines, the portal, reports) read China Standard Time with its offset, to the second, in
one format: ``2020-01-01 00:00:00 +08:00``. The registry counts days in China time, so a person reading "as of"
sees the day they asked about. JSON keeps ISO 8601 in UTC with its offset (``2019-12-31T16:00:00+00:00``), as
the API has always answered: programs compare instants, and one zone everywhere keeps them comparable as text.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

__all__ = ["CHINA", "for_json", "for_people", "parse_iso_for_people"]

CHINA = ZoneInfo("Asia/Shanghai")  # as registry.state: days are China days


def for_people(value: dt.datetime | None, empty: str = "") -> str:
    """``2020-01-01 00:00:00 +08:00``; ``empty`` for None. A naive value is taken as UTC, as the store keeps."""
    if value is None:
        return empty
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    local = value.astimezone(CHINA)
    offset = local.strftime("%z")  # +0800
    return f"{local.strftime('%Y-%m-%d %H:%M:%S')} {offset[:3]}:{offset[3:]}"


def for_json(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with its offset, to the second or finer as stored; None stays None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat()


def parse_iso_for_people(value: object, empty: str = "") -> str:
    """An ISO instant as an API answer carries it, for people; text that is not one is shown as it is."""
    if not isinstance(value, str) or not value:
        return empty
    try:
        return for_people(dt.datetime.fromisoformat(value))
    except ValueError:
        return value
