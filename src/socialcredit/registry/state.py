"""A record's state, as carried by every event, and the pure rules of when it applies.

Two times are kept apart (bitemporal): the period a record is in force (``applies_from`` to
``effective_until``, cut short by ``ended_at``, paused by ``suspensions``) and the time the registry learned
each fact (the ``recorded_at`` of the event that carries the state). Nothing here reads a clock: every answer
is a function of the state and the instant asked about.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

__all__ = [
    "LIFECYCLE_ENDED",
    "RecordState",
    "applies_at",
    "day_end",
    "day_start",
    "display_status",
    "notice_end",
    "parse_instant",
    "term_bounds",
]

Lifecycle = Literal["filed", "revoked", "repaired", "fulfilled", "expired"]
LIFECYCLE_ENDED = frozenset({"revoked", "repaired", "fulfilled"})

_TZ = ZoneInfo("Asia/Shanghai")
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # one encoder, not one per call


@lru_cache(maxsize=8192)
def day_start(day: dt.date) -> dt.datetime:
    """A decision date begins at local midnight (China Standard Time), as an aware UTC instant."""
    return dt.datetime.combine(day, dt.time(), _TZ).astimezone(dt.UTC)


@lru_cache(maxsize=8192)
def day_end(day: dt.date) -> dt.datetime:
    """The last day in force ends at the following local midnight (exclusive)."""
    return day_start(day + dt.timedelta(days=1))


@lru_cache(maxsize=4096)
def local_date(instant: dt.datetime) -> dt.date:
    # Cached (equal instants have one local date, whatever their zone): every row of an import asks it of one
    # clock reading.
    return instant.astimezone(_TZ).date()


def parse_instant(value: str) -> dt.datetime:
    """An ISO 8601 date or datetime; a bare date means its local midnight, a naive time is China time."""
    text = value.strip()
    if len(text) == 10:
        return day_start(dt.date.fromisoformat(text))
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_TZ)
    return parsed.astimezone(dt.UTC)


def _iso(v: dt.datetime | None) -> str | None:
    if v is None:
        return None
    return (v if v.tzinfo is dt.UTC else v.astimezone(dt.UTC)).isoformat()


def _dt(v: str | None) -> dt.datetime | None:
    return None if v is None else dt.datetime.fromisoformat(v)


# The texts a state may lack (see ``RecordState.to_json``); the instants are listed in ``from_json``.
_OPTIONAL_TEXTS = (
    "actual_controller_id",
    "actual_controller_name",
    "legal_representative_id",
    "legal_representative_name",
)


@dataclass(frozen=True, slots=True)
class RecordState:
    """Everything about a record after an event; serialised whole into ``record_events.state``."""

    id: int
    authority: str
    external_id: str
    category: str
    subject_id: str
    subject_name: str
    decision_no: str
    decided_on: dt.date
    effective_from: dt.datetime
    effective_until: dt.datetime | None
    legal_basis: str
    summary: str
    legal_representative_id: str | None
    legal_representative_name: str | None
    actual_controller_id: str | None
    actual_controller_name: str | None
    status: Lifecycle
    applies_from: dt.datetime
    ended_at: dt.datetime | None
    filed_at: dt.datetime
    content_hash: str
    suspensions: tuple[tuple[dt.datetime, dt.datetime | None], ...] = field(default=())
    # The days of a default term that runs from when the measures begin (``term_bounds``), kept so that an
    # amendment recomputes the end as the filing did instead of taking it as given; None: the end is as filed.
    term_days: int | None = None

    def to_json(self) -> str:
        """The state as stored: keys in sorted order (the text is stable); a key whose value is null, and an
        empty ``suspensions``, left out (an absent key reads back as none). Each event carries the whole state,
        and the left-out keys were a tenth of its bytes."""
        # Written out by hand (not dataclasses.asdict, which deep-copies): this runs once per event imported.
        d = {
            "actual_controller_id": self.actual_controller_id,
            "actual_controller_name": self.actual_controller_name,
            "applies_from": _iso(self.applies_from),
            "authority": self.authority,
            "category": self.category,
            "content_hash": self.content_hash,
            "decided_on": self.decided_on.isoformat(),
            "decision_no": self.decision_no,
            "effective_from": _iso(self.effective_from),
            "effective_until": _iso(self.effective_until),
            "ended_at": _iso(self.ended_at),
            "external_id": self.external_id,
            "filed_at": _iso(self.filed_at),
            "id": self.id,
            "legal_basis": self.legal_basis,
            "legal_representative_id": self.legal_representative_id,
            "legal_representative_name": self.legal_representative_name,
            "status": self.status,
            "subject_id": self.subject_id,
            "subject_name": self.subject_name,
            "summary": self.summary,
            "suspensions": [[_iso(a), _iso(b)] for a, b in self.suspensions] or None,
            "term_days": self.term_days,
        }
        return _ENCODE({k: v for k, v in d.items() if v is not None})

    @classmethod
    def from_json(cls, text: str) -> RecordState:
        """Either stored form: the current one (null keys left out) or the one before it (every key written)."""
        d = json.loads(text)
        for k in ("effective_from", "effective_until", "applies_from", "ended_at", "filed_at"):
            d[k] = _dt(d.get(k))
        for k in _OPTIONAL_TEXTS:
            d.setdefault(k, None)
        d["decided_on"] = dt.date.fromisoformat(d["decided_on"])
        d["suspensions"] = tuple((_dt(a), _dt(b)) for a, b in d.get("suspensions", ()))
        d.setdefault("term_days", None)
        return cls(**d)

    def with_(self, **changes: Any) -> RecordState:
        return replace(self, **changes)

    @property
    def valid_until(self) -> dt.datetime | None:
        """When the record stops applying: its end, or the earlier moment it was lifted."""
        if self.ended_at is None:
            return self.effective_until
        if self.effective_until is None:
            return self.ended_at
        return min(self.ended_at, self.effective_until)

    def linked(self) -> tuple[tuple[str, str], ...]:
        """(person id, role) pairs this record reaches beyond its subject."""
        out: list[tuple[str, str]] = []
        if self.legal_representative_id:
            out.append((self.legal_representative_id, "legal_representative"))
        if self.actual_controller_id:
            out.append((self.actual_controller_id, "actual_controller"))
        return tuple(out)


def applies_at(state: RecordState, instant: dt.datetime) -> bool:
    """Whether the record's measures apply at ``instant``: in force, not lifted, not suspended."""
    if instant < state.applies_from:
        return False
    until = state.valid_until
    if until is not None and instant >= until:
        return False
    return not any(a <= instant and (b is None or instant < b) for a, b in state.suspensions)


def display_status(state: RecordState, instant: dt.datetime) -> str:
    """The status a person reads: notified, in_force, suspended, expired, revoked, repaired or fulfilled."""
    if state.status in LIFECYCLE_ENDED and state.ended_at is not None and instant >= state.ended_at:
        return state.status
    if state.effective_until is not None and instant >= state.effective_until:
        return "expired"
    if instant < state.applies_from:
        return "notified" if instant >= state.filed_at else "pending"
    if any(a <= instant and (b is None or instant < b) for a, b in state.suspensions):
        return "suspended"
    return "in_force"


def term_bounds(
    effective_from: dt.datetime,
    effective_until: dt.datetime | None,
    filed_at: dt.datetime,
    term_days: int | None,
    notice: tuple[int, bool] | None,
) -> tuple[dt.datetime, dt.datetime | None]:
    """(applies_from, effective_until) of a record filed at ``filed_at``: the measures begin at
    ``effective_from`` or, for a category with a notice period (``notice``: its days and whether they are
    working days), when that period ends if later; a default term of ``term_days`` runs from that beginning
    (decision 0100: a flight ban's year starts when the notice ends), any other end is as filed."""
    applies = effective_from
    if notice is not None:
        applies = max(applies, notice_end(filed_at, notice[0], notice[1]))
    if term_days is not None:
        return applies, applies + dt.timedelta(days=term_days)
    return applies, effective_until


_WORKING_NOTICE: dict[tuple[dt.datetime, Any, int], dt.datetime] = {}


def notice_end(filed_at: dt.datetime, days: int, working_days: bool) -> dt.datetime:
    """When a notice period that starts at ``filed_at`` ends: ``days`` calendar days later, or, for lists with a
    working-day window (flight and train bans), the end of the last of ``days`` working days."""
    if not working_days:
        return filed_at + dt.timedelta(days=days)
    # Counting working days costs about 16 us, and every row of an import shares its clock: remembered per
    # instant and zone (equal instants in other zones compare equal but give other texts); the holiday table is
    # fixed for the process.
    key = (filed_at, filed_at.tzinfo, days)
    hit = _WORKING_NOTICE.get(key)
    if hit is None:
        from ..workdays import deadline  # imported late: it builds on this module

        if len(_WORKING_NOTICE) > 1000:
            _WORKING_NOTICE.clear()
        hit = _WORKING_NOTICE[key] = deadline(filed_at, days, True)
    return hit
