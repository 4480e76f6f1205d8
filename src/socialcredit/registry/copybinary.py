"""PostgreSQL's binary COPY format for the import's new rows: fields built in the worker processes, rows finished
by the writer with the record id and sequence number.

Why binary: on PostgreSQL the import waits on the server's backend, and a quarter of the backend's time went to
parsing COPY's text format (finding delimiters and escapes in every byte, reading dates and timestamps from
text). Loading 100,000 rows' tables from files took 27-34 % less time in the binary format (decision 0103,
session 14). A binary field is its length (4 bytes, -1 for null) and its bytes: UTF-8 for texts, big-endian
integers for bigint, for a date (days since 2000-01-01) and for a timestamp (microseconds since 2000-01-01).
This module needs no database code: the workers use it.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

__all__ = [
    "HEADER",
    "NULL",
    "TRAILER",
    "date",
    "decode_fields",
    "length",
    "record_fields",
    "subject_row",
    "text",
    "timestamp",
    "two_bigints",
]

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # signature, flags, header extension length
TRAILER = struct.pack(">h", -1)
NULL = struct.pack(">i", -1)
_LENGTH = struct.Struct(">i")
_TIMESTAMP = struct.Struct(">iq")
_DATE = struct.Struct(">ii")
_EPOCH = dt.datetime(2000, 1, 1)
_EPOCH_DAY = dt.date(2000, 1, 1).toordinal()

# A row's field count, then two bigint fields (the record id and sequence number, or sequence number and id).
two_bigints = struct.Struct(">hiqiq").pack
# A field's length, for a text the writer joins from parts (an event's state around its record id).
length = _LENGTH.pack


def text(value: str) -> bytes:
    data = value.encode()
    return _LENGTH.pack(len(data)) + data


@lru_cache(maxsize=16384)
def timestamp(stored: str) -> bytes:
    """A timestamp field from its stored text (naive UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``); a file repeats a few
    thousand instants, hence the cache."""
    d = dt.datetime.fromisoformat(stored) - _EPOCH
    return _TIMESTAMP.pack(8, (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds)


@lru_cache(maxsize=16384)
def date(iso: str) -> bytes:
    return _DATE.pack(4, dt.date.fromisoformat(iso).toordinal() - _EPOCH_DAY)


@lru_cache(maxsize=4096)
def _repeated(value: str) -> bytes:
    """:func:`text` of a value many rows share (authority, category, legal basis, status)."""
    return text(value)


def _text_or_null(value: str | None) -> bytes:
    return NULL if value is None else text(value)


def _instant_or_null(value: str | None) -> bytes:
    return NULL if value is None else timestamp(value)


def record_fields(record: tuple[Any, ...]) -> bytes:
    """Columns 1-19 and 21-23 of a record row (registry.writer._RECORD_COLUMNS; None for null) as binary fields.

    Written out column by column, not as a loop over column kinds: this runs once per imported row, in the
    workers, and the loop cost twice as much."""
    (
        _, authority, external_id, category, subject_id, subject_name, decision_no, decided_on, effective_from,
        effective_until, legal_basis, summary, rep_id, rep_name, ctl_id, ctl_name, status, applies_from,
        ended_at, suspensions, _, content_hash, filed_at, updated_at,
    ) = record  # fmt: skip
    return b"".join(
        (
            _repeated(authority), text(external_id), _repeated(category), text(subject_id), text(subject_name),
            text(decision_no), date(decided_on), timestamp(effective_from), _instant_or_null(effective_until),
            _repeated(legal_basis), text(summary), _text_or_null(rep_id), _text_or_null(rep_name),
            _text_or_null(ctl_id), _text_or_null(ctl_name), _repeated(status), timestamp(applies_from),
            _instant_or_null(ended_at), _repeated(suspensions), text(content_hash), timestamp(filed_at),
            timestamp(updated_at),
        )
    )  # fmt: skip


def subject_row(sub: tuple[Any, ...]) -> bytes:
    """A subject (id, kind, name, region_code, region, allowlisted) as a row of seven fields but the last
    (``created_at``, the writer's)."""
    sid, kind, name, code, region, allowlisted = sub
    return b"".join(
        (
            b"\x00\x07", text(sid), _repeated(kind), text(name),
            NULL if code is None else _repeated(code), NULL if region is None else _repeated(region),
            b"\x00\x00\x00\x01\x01" if allowlisted else b"\x00\x00\x00\x01\x00",
        )
    )  # fmt: skip


def decode_fields(data: bytes, kinds: Iterable[Callable[[bytes], Any]]) -> list[Any]:
    """Fields back to values, each by its reader (for tests and inspection): None for null."""
    out: list[Any] = []
    at = 0
    for read in kinds:
        (n,) = _LENGTH.unpack_from(data, at)
        at += 4
        if n < 0:
            out.append(None)
            continue
        out.append(read(data[at : at + n]))
        at += n
    if at != len(data):
        raise ValueError(f"{len(data) - at} bytes left after the fields")
    return out
