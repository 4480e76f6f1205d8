"""Bilingual labels (Chinese, English) and the due-process facts a subject reads next to each record.

Everything here is a pure function of the catalogue and an API answer: no store, no clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ..catalogue import Catalogue
from ..registry.state import local_date
from ..timefmt import parse_iso_for_people

_TZ = ZoneInfo("Asia/Shanghai")  # as registry.state: days are China days

__all__ = [
    "EFFECTS",
    "LISTS",
    "PROTECTED_RIGHTS",
    "STATUSES",
    "Rights",
    "add_working_days",
    "authority_name",
    "local_minute",
    "rights_for",
]

# display_status values (registry.display_status) as a person reads them.
STATUSES: dict[str, tuple[str, str]] = {
    "in_force": ("生效中", "In force"),
    "notified": ("公示期（尚未生效）", "Notified, not yet in force"),
    "pending": ("待生效", "Pending"),
    "suspended": ("已中止", "Suspended"),
    "expired": ("已到期", "Expired"),
    "revoked": ("已撤销", "Revoked"),
    "repaired": ("已信用修复", "Repaired"),
    "fulfilled": ("已履行", "Fulfilled"),
}
LISTS: dict[str, tuple[str, str]] = {
    "black": ("严重失信主体名单", "Serious dishonesty list"),
    "red": ("守信激励名单", "Red list (rewards)"),
    "watch": ("重点关注名单", "Key-attention list"),
}
EFFECTS: dict[str, tuple[str, str]] = {
    "deny": ("禁止", "Denied"),
    "restrict": ("限制", "Restricted"),
    "review": ("审查", "Extra review"),
    "expedite": ("便利", "Expedited"),
}
# The rights no measure may reach (the catalogue's protected actions enforce it at load time).
PROTECTED_RIGHTS: tuple[tuple[str, str], ...] = (
    ("查阅本人信用档案", "See your own file"),
    ("提出异议", "Object to a record"),
    ("申请复议、提起诉讼", "Appeal or seek reconsideration"),
    ("获得法律帮助", "Get legal counsel"),
    ("申请信用修复", "Apply for credit repair"),
)


def authority_name(catalogue: Catalogue, code: str) -> str:
    auth = catalogue.authorities.get(code)
    return auth.name if auth else code


def add_working_days(start: dt.date, days: int) -> dt.date:
    """``start`` plus ``days`` weekdays (public holidays are not known here, so the date is an estimate)."""
    day = start
    left = days
    while left > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


@dataclass(frozen=True)
class Rights:
    """How the subject of one record may object, appeal and ask for repair."""

    objection_days: int
    working_days: bool
    objection_until: dt.date | None  # counted from the filing date (the notice)
    suspends: bool
    decision_days: int | None
    reconsideration_by: str | None  # the authority that reconsiders, when the category has reconsideration
    reconsideration_days: int | None
    objection_basis: str | None
    repair_from: dt.date | None  # the minimum publication period ends (NDRC Order 36)
    removal: str | None
    authority: str


def rights_for(catalogue: Catalogue, record: dict[str, Any]) -> Rights | None:
    """The due-process facts for a record as ``GET /v1/subjects/{id}`` returns it (None: unknown category)."""
    cat = catalogue.categories.get(str(record.get("category")))
    if cat is None:
        return None
    auth_code = str(record.get("authority", ""))
    auth = catalogue.authorities.get(auth_code)
    obj = cat.objection
    filed = _date(record.get("filed_at"))
    until = None
    if filed is not None:
        until = add_working_days(filed, obj.days) if obj.working_days else filed + dt.timedelta(days=obj.days)
    parent = auth.parent if auth and auth.parent else None
    decided = _date(record.get("decided_on"))
    repair_from = None
    applies = _instant(record.get("applies_from"))
    if decided is not None and applies is not None:  # the registry's one rule (process.repair.repair_from)
        from ..process.repair import repair_from as _repair_from

        at = _repair_from(cat, decided, applies, _instant(record.get("valid_until")))
        repair_from = local_date(at) if at is not None else None
    return Rights(
        objection_days=obj.days,
        working_days=obj.working_days,
        objection_until=until,
        suspends=obj.suspends,
        decision_days=obj.decision_days,
        reconsideration_by=(
            (authority_name(catalogue, parent) if parent else "上一级机关 / the next-higher authority")
            if obj.reconsideration
            else None
        ),
        reconsideration_days=obj.reconsideration_days if obj.reconsideration else None,
        objection_basis=obj.legal_basis,
        repair_from=repair_from,
        removal=cat.removal,
        authority=auth.name if auth else auth_code,
    )


def local_minute(value: Any) -> str | None:
    """An ISO instant from the API as people read it everywhere: China time with its offset (decision 0701)."""
    if not isinstance(value, str):
        return None
    return parse_iso_for_people(value)


def _instant(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
        # Instants are shown as China dates, as the registry counts days.
        return local_date(dt.datetime.fromisoformat(value))
    except ValueError:
        return None
