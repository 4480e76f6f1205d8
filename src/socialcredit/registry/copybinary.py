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


# How each column of a record row (registry.writer._RECORD_COLUMNS) is written, but for the id and version
# (columns 0 and 20), which the writer puts first.
_T, _D, _S = text, date, timestamp
_RECORD: tuple[Callable[[str], bytes], ...] = (
    (_T,) * 6 + (_D, _S, _S) + (_T,) * 7 + (_S, _S) + (_T,) * 2 + (_S, _S)
)


def record_fields(record: tuple[Any, ...]) -> bytes:
    """Columns 1-19 and 21-23 of a record row (None for null) as binary fields."""
    values = (*record[1:20], *record[21:])
    return b"".join([NULL if v is None else f(v) for f, v in zip(_RECORD, values, strict=True)])


def subject_row(sub: tuple[Any, ...]) -> bytes:
    """A subject (id, kind, name, region_code, region, allowlisted) as a row of seven fields but the last
    (``created_at``, the writer's)."""
    head = b"".join([NULL if v is None else text(v) for v in sub[:5]])
    return b"\x00\x07" + head + (b"\x00\x00\x00\x01\x01" if sub[5] else b"\x00\x00\x00\x01\x00")


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
