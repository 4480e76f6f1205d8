"""Reading one JetStream message of the feed into what the index needs (decision 1102).

A record event's message (feed/nats.py) has header ``Nats-Msg-Id: <event seq>`` and a body holding the
record's subject, links, instants, suspensions, category and authority: enough to place the record in the
index without the store. What a message may be:

* :class:`RecordUpdate`: a record event of a known type whose body reads;
* :class:`NotARecordEvent`: a message whose id is not an event seq (``grade:...``, grade.changed): skipped,
  it has no place in the record sequence;
* :class:`Unreadable`: it claims a record event seq but its type is unknown or its body does not read. It is
  never applied (a guess could give a wrong answer); the follower treats it as a gap and re-syncs.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from ..engine.index import INF

__all__ = [
    "RECORD_EVENT_TYPES",
    "NotARecordEvent",
    "Read",
    "RecordUpdate",
    "Unreadable",
    "read_message",
]

# Every record event type the registry writes (docs/feed.md); another type is not guessed at.
RECORD_EVENT_TYPES = frozenset(
    {
        "filed",
        "amended",
        "objected",
        "objection_decided",
        "reconsideration_requested",
        "reconsidered",
        "corrected",
        "revoked",
        "repaired",
        "fulfilled",
        "expired",
    }
)
_LINK_ROLES = frozenset({"legal_representative", "actual_controller"})


@dataclass(frozen=True, slots=True)
class RecordUpdate:
    """A record's state after event ``seq``, as the index holds it (POSIX seconds, ``inf`` for no end)."""

    seq: int
    type: str
    record_id: int
    category: str
    authority: str
    subject: str
    rep: str | None
    ctl: str | None
    start: float
    until: float
    pauses: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class NotARecordEvent:
    msg_id: str
    subject: str


@dataclass(frozen=True, slots=True)
class Unreadable:
    seq: int
    reason: str


Read = RecordUpdate | NotARecordEvent | Unreadable


def _instant(value: Any, field: str, absent: float | None = None) -> float:
    if value is None and absent is not None:
        return absent
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected an ISO 8601 instant, got {value!r}")
    t = dt.datetime.fromisoformat(value)
    if t.tzinfo is None:
        raise ValueError(f"{field}: {value!r} has no UTC offset")
    return t.timestamp()


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field}: expected a non-empty string, got {value!r}")
    return value


def _update(seq: int, body: Any) -> RecordUpdate:
    if not isinstance(body, dict):
        raise ValueError("the body is not a JSON object")
    if body.get("event_id") != seq:
        raise ValueError(f"event_id {body.get('event_id')!r} is not the message id {seq}")
    rid = body.get("record_id")
    if type(rid) is not int:
        raise ValueError(f"record_id: expected an integer, got {rid!r}")
    links: dict[str, str] = {}
    for link in body.get("linked") or ():
        role = link.get("role") if isinstance(link, dict) else None
        sid = link.get("subject_id") if isinstance(link, dict) else None
        if role not in _LINK_ROLES or not isinstance(sid, str) or not sid:
            raise ValueError(f"linked: {link!r} is not a role and subject_id")
        links[role] = sid
    if "suspensions" not in body:  # a body of the feed without the message's additions: not enough to place
        raise ValueError("no suspensions (not a message of this version's publisher)")
    pauses = []
    for pair in body["suspensions"] or ():
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError(f"suspensions: {pair!r} is not [from, until]")
        pauses.append((_instant(pair[0], "suspensions"), _instant(pair[1], "suspensions", INF)))
    return RecordUpdate(
        seq=seq,
        type=_text(body, "type"),
        record_id=rid,
        category=_text(body, "category"),
        authority=_text(body, "authority"),
        subject=_text(body, "subject_id"),
        rep=links.get("legal_representative"),
        ctl=links.get("actual_controller"),
        start=_instant(body.get("applies_from"), "applies_from"),
        until=_instant(body.get("valid_until"), "valid_until", INF),
        pauses=tuple(pauses),
    )


def read_message(msg_id: str | None, subject: str, data: bytes) -> Read:
    """What a message of the stream is to a check node (never raises)."""
    if msg_id is None or not msg_id.isdigit():
        return NotARecordEvent(msg_id or "", subject)
    seq = int(msg_id)
    kind = subject.rpartition(".")[2]
    if kind not in RECORD_EVENT_TYPES:
        return Unreadable(
            seq, f"event type {kind!r} (subject {subject}) is not a record event type known here"
        )
    try:
        update = _update(seq, json.loads(data))
    except (ValueError, TypeError, AttributeError) as exc:  # JSONDecodeError is a ValueError
        return Unreadable(seq, f"body does not read: {exc}")
    if update.type != kind:
        return Unreadable(seq, f"body type {update.type!r} is not the subject's {kind!r}")
    return update
