"""Bilingual labels (Chinese, English) and the due-process facts a subject reads next to each record.

Everything here is a pure function of the catalogue and an API answer: no store, no clock.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ..catalogue import Catalogue
from ..registry.state import local_date
from ..timefmt import parse_iso_for_people

_TZ = ZoneInfo("Asia/Shanghai")  # as registry.state: days are China days

__all__ = [
    "EFFECTS",
    "ERRORS",
    "LISTS",
    "PROTECTED_RIGHTS",
    "STATUSES",
    "VIA",
    "Rights",
    "action_names",
    "authority_name",
    "authority_names",
    "category_titles",
    "local_minute",
    "measure_titles",
    "note_names",
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


# An error's kind in both languages, by status: the API's detail and field reasons are English only, so each
# error box says in Chinese too what went wrong and what to do.
ERRORS: dict[int, tuple[str, str]] = {
    400: ("请求无法读取。", "The request could not be read."),
    401: ("密钥无效、已过期或已撤销。", "The key is not valid, has expired or was revoked."),
    403: ("该密钥无权执行此操作。", "This key may not do this."),
    404: ("没有找到。", "Not found."),
    413: ("提交的内容过大。", "What was sent is too large."),
    415: ("提交的格式不对。", "What was sent is in the wrong format."),
    422: ("输入有误，请按下列说明更正。", "Some input is not valid; correct it as listed below."),
    429: ("请求过于频繁，请稍后再试。", "Too many requests; try again later."),
    503: ("服务暂时不可用，请稍后再试。", "The service is unavailable for now; try again later."),
}

# What a reason of a registrar's Decision reaches the subject through (engine: the measure's applies_to).
VIA: dict[str, tuple[str, str]] = {
    "subject": ("本人", "the subject"),
    "legal_representative": ("法定代表人", "as legal representative"),
    "actual_controller": ("实际控制人", "as actual controller"),
}
_WITHHELD_NOTE = re.compile(
    r"^red-list benefits withheld while black-list record (\d+) \(([^)]+)\) is in force$"
)

# The same note when the black-list record is another authority's (api.views reduces it).
_WITHHELD_REDUCED = "red-list benefits withheld while a black-list record is in force"

Names = tuple[str, str]  # (Chinese, English): every datum the portal shows in both languages


def authority_name(catalogue: Catalogue, code: str) -> str:
    auth = catalogue.authorities.get(code)
    return auth.name if auth else code


def authority_names(catalogue: Catalogue, code: str) -> Names:
    auth = catalogue.authorities.get(code)
    return (auth.name, auth.name_en or auth.name) if auth else (code, code)


def category_titles(catalogue: Catalogue, code: str) -> Names:
    cat = catalogue.categories.get(code)
    return (cat.title, cat.title_en or cat.title) if cat else (code, code)


def action_names(catalogue: Catalogue, code: str) -> Names:
    action = catalogue.actions.get(code)
    return (action.title_zh or action.title, action.title) if action else (code, code)


def measure_titles(catalogue: Catalogue, memorandum: str, code: str) -> Names:
    memo = catalogue.memoranda.get(memorandum)
    measure = next((m for m in memo.measures if m.code == code), None) if memo else None
    return (measure.title_zh or measure.title, measure.title) if measure else (code, code)


def note_names(note: str) -> Names:
    """A Decision's note in both languages (the engine writes English; a note it does not know stays as is)."""
    if m := _WITHHELD_NOTE.match(note):
        return (f"黑名单记录 {m[1]}（{m[2]}）生效期间，不给予守信激励", note)
    if note == _WITHHELD_REDUCED:  # another authority's record, as a registrar of this one reads it (0310)
        return ("黑名单记录生效期间，不给予守信激励", note)
    return (note, note)


@dataclass(frozen=True)
class Rights:
    """How the subject of one record may object, appeal and ask for repair."""

    suspends: bool
    # Days the authority has to decide (decision 0400: decision_days, else the objection days as counted)
    decision_days: int
    decision_working_days: bool
    reconsideration_by: Names | None  # the authority that reconsiders, when the category has reconsideration
    reconsideration_days: int | None
    objection_basis: str | None
    repair_from: dt.date | None  # the minimum publication period ends (NDRC Order 36)
    removal: Names | None
    authority: Names


def rights_for(catalogue: Catalogue, record: dict[str, Any]) -> Rights | None:
    """The due-process facts for a record as ``GET /v1/subjects/{id}`` returns it (None: unknown category)."""
    cat = catalogue.categories.get(str(record.get("category")))
    if cat is None:
        return None
    auth_code = str(record.get("authority", ""))
    auth = catalogue.authorities.get(auth_code)
    obj = cat.objection
    parent = auth.parent if auth and auth.parent else None
    decided = _date(record.get("decided_on"))
    repair_from = None
    applies = _instant(record.get("applies_from"))
    if decided is not None and applies is not None:  # the registry's one rule (process.repair.repair_from)
        from ..process.repair import repair_from as _repair_from

        at = _repair_from(cat, decided, applies, _instant(record.get("valid_until")))
        repair_from = local_date(at) if at is not None else None
    return Rights(
        suspends=obj.suspends,
        decision_days=obj.decision_days or obj.days,
        decision_working_days=obj.decision_days is None and obj.working_days,
        reconsideration_by=(
            (authority_names(catalogue, parent) if parent else ("上一级机关", "the next-higher authority"))
            if obj.reconsideration
            else None
        ),
        reconsideration_days=obj.reconsideration_days if obj.reconsideration else None,
        objection_basis=obj.legal_basis,
        repair_from=repair_from,
        removal=(cat.removal_zh or cat.removal, cat.removal) if cat.removal else None,
        authority=authority_names(catalogue, auth_code),
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
