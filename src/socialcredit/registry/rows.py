"""Import rows (DESIGN.md section 3): check one row against the catalogue and turn it into a filing.

Every problem in a row is reported, each as ``field: reason`` naming the value, never just the first.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..catalogue import Catalogue
from ..identifiers import IdentifierError, SubjectId, parse
from .state import day_end, day_start, local_date

__all__ = ["COLUMNS", "REQUIRED", "Filing", "RowError", "RowInvalid", "check_row"]

REQUIRED = ("external_id", "authority", "category", "subject_id", "subject_name", "decision_no", "decided_on")
OPTIONAL = (
    "effective_from",
    "effective_until",
    "legal_basis",
    "summary",
    "legal_representative_id",
    "legal_representative_name",
    "actual_controller_id",
    "actual_controller_name",
)
COLUMNS = REQUIRED + OPTIONAL
_COLUMN_SET = frozenset(COLUMNS)
_NOT_TEXT = (
    "subject_id",
    "decided_on",
    "effective_from",
    "effective_until",
    "legal_representative_id",
    "actual_controller_id",
)
_TEXT_FIELDS = tuple((n, n in REQUIRED) for n in COLUMNS if n not in _NOT_TEXT)
_MAX = {
    "external_id": 200,
    "subject_name": 300,
    "decision_no": 200,
    "legal_basis": 2000,
    "summary": 4000,
    "legal_representative_name": 300,
    "actual_controller_name": 300,
}


@dataclass(frozen=True, slots=True)
class RowError:
    field: str
    value: Any
    reason: str

    def __str__(self) -> str:
        shown = (
            self.value
            if not isinstance(self.value, str) or len(self.value) <= 60
            else self.value[:57] + "..."
        )
        if self.field == "row":
            return self.reason
        if self.value is None:  # absent: there is no value to show (not Python's "None")
            return f"{self.field}: {self.reason}"
        return f"{self.field}: {shown!r}: {self.reason}"


class RowInvalid(ValueError):
    """A row (or request body) that cannot be filed; ``errors`` holds every problem found."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


@dataclass(frozen=True, slots=True)
class Filing:
    """A checked row, ready for the registry: canonical identifiers, instants, and a content hash."""

    authority: str
    external_id: str
    category: str
    subject: SubjectId
    subject_name: str
    decision_no: str
    decided_on: dt.date
    effective_from: dt.datetime
    effective_until: dt.datetime | None
    legal_basis: str
    summary: str
    legal_representative: SubjectId | None
    legal_representative_name: str | None
    actual_controller: SubjectId | None
    actual_controller_name: str | None
    content_hash: str
    # Days of a default term counted from when the measures begin (category ``term_from: notice_end``): the
    # writer sets the end once it knows the notice period's end (decision 0100). None: the end is as above.
    term_days: int | None = None


def _date(row: dict[str, Any], name: str, errors: list[RowError]) -> dt.date | None:
    raw = row.get(name)
    if raw is None or raw == "":
        return None
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        return raw
    if not isinstance(raw, str) or len(raw) != 10 or raw[4] != "-" or raw[7] != "-":
        errors.append(RowError(name, raw, "expected a date as YYYY-MM-DD"))
        return None
    try:
        day = _iso_date(raw)
    except ValueError:
        errors.append(RowError(name, raw, "not a real date (YYYY-MM-DD)"))
        return None
    if not DATE_RANGE[0] <= day <= DATE_RANGE[1]:
        errors.append(RowError(name, raw, f"out of range: expected {DATE_RANGE[0]} to {DATE_RANGE[1]}"))
        return None
    return day


# The dates a row may give. Wide enough for any decision and term; narrow enough that the instants computed from
# them (local midnight in UTC, an end thousands of days on) exist: year 1 or 9999 overflowed Python's dates.
DATE_RANGE = (dt.date(1900, 1, 1), dt.date(2999, 12, 31))


@lru_cache(maxsize=8192)
def _iso_date(raw: str) -> dt.date:
    return dt.date.fromisoformat(raw)  # cached: a file holds few distinct dates


# Control characters, and lone surrogates: a JSON escape such as \ud800 read alone is no character and cannot be
# stored (nor hashed) as UTF-8.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def _text(row: dict[str, Any], name: str, errors: list[RowError], required: bool) -> str | None:
    raw = row.get(name)
    if type(raw) is str:
        value = raw.strip()
        # Fast path first: this runs a dozen times per imported row.
        if value and len(value) <= _MAX.get(name, 120) and not _CONTROL.search(value):
            return value
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            errors.append(RowError(name, raw, "required"))
        return None
    if not isinstance(raw, str):
        errors.append(RowError(name, raw, f"expected text, found {type(raw).__name__}"))
        return None
    value = raw.strip()
    if bad := _CONTROL.search(value):
        if "\ud800" <= bad.group() <= "\udfff":
            reason = f"contains a lone surrogate U+{ord(bad.group()):04X} (half of a character), not text"
        else:
            reason = "contains control characters"
        errors.append(RowError(name, raw, reason))
        return None
    errors.append(RowError(name, raw, f"longer than {_MAX.get(name, 120)} characters"))
    return None


_TEXT_NAMES = tuple(n for n, _ in _TEXT_FIELDS)
_TEXT_LIMITS = tuple((n, _MAX.get(n, 120), required) for n, required in _TEXT_FIELDS)


def _texts(row: dict[str, Any], errors: list[RowError]) -> dict[str, str | None]:
    """Every text field, stripped; one control-character scan for a row of plain texts (the common case)."""
    values = [row.get(n) for n in _TEXT_NAMES]
    if all(v is None or type(v) is str for v in values) and not _CONTROL.search(
        "".join([v for v in values if v])
    ):
        out: dict[str, str | None] = {}
        for (name, limit, required), raw in zip(_TEXT_LIMITS, values, strict=True):
            value = raw.strip() if raw else None
            if value and len(value) <= limit:
                out[name] = value
            elif raw is None and not required:
                out[name] = None
            else:  # absent, blank or too long: the field-by-field check words the error
                out[name] = _text(row, name, errors, required)
        return out
    return {n: _text(row, n, errors, required) for n, required in _TEXT_FIELDS}


def _ident(
    row: dict[str, Any], name: str, errors: list[RowError], allowlist: frozenset[str]
) -> SubjectId | None:
    raw = _text(row, name, errors, required=name == "subject_id")
    if raw is None:
        return None
    try:
        return parse(raw, allowlist)
    except IdentifierError as exc:
        errors.append(RowError(name, raw, exc.reason))
        return None


def _unknown_column(name: str) -> str:
    close = difflib.get_close_matches(name, COLUMNS, n=1, cutoff=0.6)
    hint = f"misspelt? the closest known column is {close[0]!r}; " if close else ""
    return f"unknown column ({hint}known: {', '.join(COLUMNS)})"


def check_row(
    row: dict[str, Any], catalogue: Catalogue, now: dt.datetime, allowlist: frozenset[str] = frozenset()
) -> Filing:
    """Check one import row; return the :class:`Filing` or raise :class:`RowInvalid` with every error."""
    errors: list[RowError] = []
    if not isinstance(row, dict):
        raise RowInvalid([RowError("row", row, "a row must be an object of column: value")])
    if not _COLUMN_SET.issuperset(row):
        for key in row:
            if key not in _COLUMN_SET:
                errors.append(RowError(str(key), row[key], _unknown_column(str(key))))
    text = _texts(row, errors)
    subject = _ident(row, "subject_id", errors, allowlist)
    rep = _ident(row, "legal_representative_id", errors, allowlist)
    ctl = _ident(row, "actual_controller_id", errors, allowlist)
    decided = _date(row, "decided_on", errors)
    if decided is None and not any(e.field == "decided_on" for e in errors):
        errors.append(RowError("decided_on", row.get("decided_on"), "required"))
    start = _date(row, "effective_from", errors) or decided
    until = _date(row, "effective_until", errors)

    authority, code = text["authority"], text["category"]
    cat = catalogue.categories.get(code or "")
    if authority is not None and authority not in catalogue.authorities:
        errors.append(RowError("authority", authority, "unknown authority"))
    if code is not None and cat is None:
        errors.append(RowError("category", code, "unknown category"))
    if cat is not None and authority in catalogue.authorities and authority not in cat.authorities:
        errors.append(
            RowError(
                "authority",
                authority,
                f"may not file category {code!r} (filed by: {', '.join(cat.authorities)})",
            )
        )
    if cat is not None and subject is not None and subject.kind not in cat.subject_kinds:
        errors.append(
            RowError("subject_id", subject.canonical, f"a {subject.kind} cannot be listed in {code!r}")
        )
    if cat is not None and subject is not None and decided and subject.birth_date and cat.list != "red":
        age = (
            decided.year
            - subject.birth_date.year
            - ((decided.month, decided.day) < (subject.birth_date.month, subject.birth_date.day))
        )
        if age < 18:
            errors.append(
                RowError("subject_id", subject.canonical, f"a minor (aged {age}) may not be listed")
            )
    for link, name in ((rep, "legal_representative_id"), (ctl, "actual_controller_id")):
        if link is None:
            continue
        if subject is not None and subject.kind != "organisation":
            errors.append(RowError(name, link.canonical, "only an organisation has a linked person"))
        if link.kind != "person":
            errors.append(RowError(name, link.canonical, "a linked person must be a person's identifier"))
    today = local_date(now)
    if decided and decided > today:
        errors.append(RowError("decided_on", decided.isoformat(), f"in the future (today is {today})"))
    if decided and start and start < decided:
        errors.append(RowError("effective_from", start.isoformat(), "before decided_on"))
    term_days = None
    if cat is not None and start is not None and until is None:
        days = cat.duration_days or cat.max_duration_days
        if days:
            until = start + dt.timedelta(days=days - 1)  # the row's own reading (and its content hash)
            term_days = days if cat.term_from == "notice_end" else None
        elif not cat.ends_by_fulfilment:
            errors.append(
                RowError("effective_until", None, f"required: category {code!r} has no default end")
            )
    if start and until and until < start:
        errors.append(RowError("effective_until", until.isoformat(), "before effective_from"))
    if cat is not None and start and until:
        cap = cat.max_duration_days or cat.duration_days
        if cap and (until - start).days + 1 > cap:
            errors.append(
                RowError(
                    "effective_until",
                    until.isoformat(),
                    f"longer than the {cap} days category {code!r} allows",
                )
            )
    if errors:
        raise RowInvalid(errors)
    assert subject is not None and decided is not None and start is not None and cat is not None
    basis = text["legal_basis"] or cat.legal_basis
    # The content hash decides "identical re-filing" vs "amendment". Fields joined by a separator that no
    # accepted value can contain (control characters are refused above); \x1e stands for an absent value.
    body = "\x1f".join(
        v if v is not None else "\x1e"
        for v in (
            authority,
            text["external_id"],
            code,
            subject.canonical,
            text["subject_name"],
            text["decision_no"],
            decided.isoformat(),
            start.isoformat(),
            until.isoformat() if until else None,
            basis,
            text["summary"] or "",
            rep.canonical if rep else None,
            text["legal_representative_name"],
            ctl.canonical if ctl else None,
            text["actual_controller_name"],
        )
    )
    digest = hashlib.sha256(body.encode()).hexdigest()
    return Filing(
        authority=str(authority),
        external_id=str(text["external_id"]),
        category=str(code),
        subject=subject,
        subject_name=str(text["subject_name"]),
        decision_no=str(text["decision_no"]),
        decided_on=decided,
        effective_from=day_start(start),
        effective_until=day_end(until) if until else None,
        legal_basis=basis,
        summary=text["summary"] or "",
        legal_representative=rep,
        legal_representative_name=text["legal_representative_name"],
        actual_controller=ctl,
        actual_controller_name=text["actual_controller_name"],
        content_hash=digest,
        term_days=term_days,
    )
