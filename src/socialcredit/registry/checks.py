"""Checking import rows in worker processes: a block of JSON lines or a chunk of rows in, for each row its
:data:`.prepared.Prepared` form and key, or its errors, out.

A row goes first through the fast path (:class:`.fastcheck.FastCheck`, plain valid rows), and otherwise through
:func:`.rows.check_row` and :func:`.prepared.prepare`, which word every error. This module imports no
database code: a worker process loads only what checking needs.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
from typing import Any

import orjson

from ..catalogue import Catalogue
from ..identifiers import trim_parse_cache
from .fastcheck import FastCheck
from .prepared import prepare
from .rows import RowInvalid, check_row

__all__ = [
    "GC_THRESHOLD",
    "check_block",
    "check_chunk",
    "check_one",
    "encoding_error",
    "init_worker",
    "json_error",
    "key_hash",
    "loads",
]

_worker: dict[str, Any] = {}
_WORKER_PARSES = 8192  # identifiers a worker remembers: it sees mostly new ones, and each costs ~400 bytes


# Collect cycles after 10,000 new objects, not 700: a block's results (thousands of tuples, none in a cycle) made
# the collector scan them again and again, a tenth of a worker's time.
GC_THRESHOLD = 10_000


def init_worker(catalogue: Catalogue, now: dt.datetime, allowlist: frozenset[str], dialect: str) -> None:
    _worker.update(catalogue=catalogue, now=now, allowlist=allowlist, dialect=dialect)
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


def check_one(
    line: int,
    source: Any,
    catalogue: Catalogue,
    now: dt.datetime,
    allowlist: frozenset[str],
    dialect: str,
    text: bool = True,
    origin: Any = None,
) -> tuple[Any, ...]:
    """("ok", line, prepared, key hash) | ("bad", line, row, errors) | ("json", line, message) for one row.

    ``source`` is a JSON text when ``text``, else the row itself (already parsed, or a CSV row). The prepared
    filing keeps ``origin`` as its source (the line's byte offset, from :func:`check_block`), else the row.
    """
    fast = _fast_check(catalogue, now, allowlist, dialect)
    if text and isinstance(source, str):
        try:
            row = orjson.loads(source)
        except orjson.JSONDecodeError:
            row = None
        # The fast path takes orjson's reading as it is: it declines any value but a text or null, so a row it
        # takes is read as ``loads`` reads it. Anything else is read again.
        p = fast.check(row, row if origin is None else origin)
        if p is not None:
            return ("ok", line, p, key_hash(p[0], p[1]))
        try:
            row = loads(source)
        except json.JSONDecodeError as exc:
            return ("json", line, json_error(exc))
    else:
        row = source
        p = fast.check(row, row if origin is None else origin)
        if p is not None:
            return ("ok", line, p, key_hash(p[0], p[1]))
    if not isinstance(row, dict):
        # Valid JSON but no row (a list, a number): the file is malformed (docs/import.md), not one row of it.
        return ("json", line, NOT_AN_OBJECT)
    kept = row if origin is None else origin
    try:
        f = check_row(row, catalogue, now, allowlist)
    except RowInvalid as exc:
        return ("bad", line, row, exc.errors)
    return ("ok", line, prepare(f, catalogue, now, dialect, kept), key_hash(f.authority, f.external_id))


_fast: list[FastCheck] = []


def _fast_check(catalogue: Catalogue, now: dt.datetime, allowlist: frozenset[str], dialect: str) -> FastCheck:
    """The fast path for these settings: built once per import (its tables depend on all four)."""
    if _fast:
        f = _fast[0]
        if f.catalogue is catalogue and f.now is now and f.allow == allowlist and f.dialect == dialect:
            return f
        _fast.clear()
    f = FastCheck(catalogue, now, frozenset(allowlist), dialect)
    _fast.append(f)
    return f


NOT_AN_OBJECT = "a row must be an object of column: value"


def json_error(exc: json.JSONDecodeError) -> str:
    """A line's JSON error, once: the standard library's messages may end in "at" already ("Invalid control
    character at")."""
    return f"invalid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}"


def key_hash(authority: str, external_id: str) -> int:
    """A record key as 8 bytes (an unsigned integer), to find keys repeated in a file in little memory."""
    return int.from_bytes(
        hashlib.blake2b(f"{authority}\0{external_id}".encode(), digest_size=8).digest(), "big"
    )


def loads(text: str) -> Any:
    """A JSON line: orjson for the common row of texts; the standard library for everything else, so that
    what orjson refuses (NaN, lone surrogates) is still read, a value is reported as written (orjson reads an
    integer over 64 bits as a float), and errors keep the standard library's wording."""
    try:
        row = orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
    if type(row) is dict and all(v.__class__ is str or v is None for v in row.values()):
        return row
    return json.loads(text)


def encoding_error(line: bytes, exc: UnicodeDecodeError) -> str:
    """The error of a line that is not UTF-8, naming the byte and its column."""
    return (
        f"encoding: expected UTF-8, found byte 0x{line[exc.start]:02x} at column {exc.start + 1} "
        f"({exc.reason}); re-save the file as UTF-8 (it may be GBK or Latin-1)"
    )


def check_block(item: tuple[int, int, bytes]) -> list[tuple[Any, ...]]:
    """Check a block of whole JSON lines (``item``: its first line's number, its byte offset, its bytes) in a
    worker process: lines are decoded, blank lines skipped and a byte-order mark dropped as the in-process reader
    does; a line that is not UTF-8 gives ("encoding", line, message) and ends the block (the import stops there).
    A good row's source is its line's byte offset in the file."""
    first, offset, block = item
    w = _worker
    cat, now, allow, dialect = w["catalogue"], w["now"], w["allowlist"], w["dialect"]
    failure = None
    raws = block.split(b"\n")
    # The whole block at once: a newline byte is never inside a UTF-8 sequence, so this fails iff a line does.
    try:
        lines = block.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        lines = []
        for n, raw in enumerate(raws, first):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                failure = ("encoding", n, encoding_error(raw, exc))
                break
    out = []
    for n, (line, raw) in enumerate(zip(lines, raws, strict=False), first):  # lines stop at a failure
        if n == 1 and line.startswith("\ufeff"):  # a byte-order mark is not data
            line = line[1:]
        if line.strip():
            out.append(check_one(n, line, cat, now, allow, dialect, origin=offset))
        offset += len(raw) + 1
    if failure is not None:
        out.append(failure)
    trim_parse_cache(_WORKER_PARSES)
    return out


def check_chunk(items: list[tuple[int, Any]]) -> list[tuple[Any, ...]]:
    """Check a chunk of (line, JSON text or CSV row) in a worker process set up by :func:`init_worker`."""
    w = _worker
    cat, now, allow, dialect = w["catalogue"], w["now"], w["allowlist"], w["dialect"]
    out = [check_one(n, src, cat, now, allow, dialect) for n, src in items]
    trim_parse_cache(_WORKER_PARSES)
    return out
