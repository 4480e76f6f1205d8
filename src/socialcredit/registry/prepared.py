"""Filings prepared for storage: every text and row built ahead, but for the record id and event number.

A :data:`Prepared` tuple holds a new record's event state, feed payload and projection row with holes where
the record id and sequence number go; the writer, holding the lock, fills the holes by concatenation. The
import builds these in worker processes (:func:`check_block`, :func:`check_chunk`), so the one writer spends its
time writing. The texts equal ``RecordState.to_json()`` and ``event_payload()`` of the same record exactly
(tested). For PostgreSQL they come in COPY's text format, the record row as one line (see ``_for_copy``).
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any

import orjson

from ..catalogue import Catalogue
from ..identifiers import trim_parse_cache
from .bulk import copy_value, sqlite_date, sqlite_dt
from .rows import Filing, RowInvalid, check_row
from .state import _iso, notice_end

__all__ = [
    "GC_THRESHOLD",
    "Prepared",
    "check_block",
    "check_chunk",
    "check_one",
    "encoding_error",
    "init_worker",
    "key_hash",
    "prepare",
    "refile",
]

# (authority, external_id, content_hash, subjects, state_head, state_tail, payload_head, payload_mid,
#  payload_tail, subject_ids_json, record_row, source): subjects are (id, kind, name, region_code, region,
#  allowlisted); record_row has None for id and version; source is the input row (from a worker, its line's byte
#  offset in the file), checked again on amendment. PostgreSQL's form: subjects are (id, COPY line), the texts
#  COPY-escaped, record_row one COPY line without id and version.
Prepared = tuple[Any, ...]

_QUOTE: Callable[[str], str] = encode_basestring  # a JSON string, as ensure_ascii=False writes it


def _text(value: str | None) -> str:
    """A JSON value for an optional text, exactly as ``json`` with ``ensure_ascii=False`` writes it."""
    return "null" if value is None else _QUOTE(value)


class _Times:
    """The texts and storage values of the instants a file repeats (day boundaries, the import's now).

    Formatting an aware datetime costs more than the rest of a row's JSON; a file holds a few thousand
    distinct instants, so each is formatted once. Keyed by instant and zone: equal instants in other zones
    format differently.
    """

    def __init__(self) -> None:
        self.seen: dict[tuple[dt.datetime, Any], tuple[str, str, Any]] = {}

    def __call__(self, v: dt.datetime) -> tuple[str, str, Any]:
        """(UTC ISO text as in a state, ``isoformat()`` as in a payload, the stored text, naive UTC)."""
        key = (v, v.tzinfo)
        hit = self.seen.get(key)
        if hit is None:
            if len(self.seen) > 50_000:
                self.seen.clear()
            hit = self.seen[key] = (_QUOTE(_iso(v) or ""), _QUOTE(v.isoformat()), sqlite_dt(v))
        return hit


_TIMES = _Times()


def prepare(f: Filing, catalogue: Catalogue, now: dt.datetime, dialect: str, source: Any = None) -> Prepared:
    """The storage texts of ``f`` as a new record filed at ``now`` (id and sequence number left open).

    The JSON texts are written from templates (keys in sorted order, the separators of
    ``RecordState.to_json`` and ``event_payload``): a test holds them equal to what those write.
    """
    times = _TIMES
    cat = catalogue.categories[f.category]
    start, until = f.effective_from, f.effective_until
    applies = start
    if not cat.takes_effect_at_once:
        applies = max(applies, notice_end(now, cat.notice_days, cat.notice_working_days))
    rep = f.legal_representative.canonical if f.legal_representative else None
    ctl = f.actual_controller.canonical if f.actual_controller else None
    subject = f.subject.canonical
    s_start, p_start, db_start = times(start)
    s_applies, p_applies, db_applies = (s_start, p_start, db_start) if applies is start else times(applies)
    if until is None:
        s_until = p_until = "null"
        db_until = None
    else:
        s_until, p_until, db_until = times(until)
    s_now, p_now, db_now = times(now)
    authority, category, external_id = _QUOTE(f.authority), _QUOTE(f.category), _QUOTE(f.external_id)
    q_subject = _QUOTE(subject)
    s_head = (
        f'{{"actual_controller_id":{_text(ctl)},"actual_controller_name":{_text(f.actual_controller_name)},'
        f'"applies_from":{s_applies},"authority":{authority},"category":{category},'
        f'"content_hash":"{f.content_hash}","decided_on":"{f.decided_on.isoformat()}",'
        f'"decision_no":{_QUOTE(f.decision_no)},"effective_from":{s_start},"effective_until":{s_until},'
        f'"ended_at":null,"external_id":{external_id},"filed_at":{s_now},'
    )
    s_tail = (
        f',"legal_basis":{_QUOTE(f.legal_basis)},"legal_representative_id":{_text(rep)},'
        f'"legal_representative_name":{_text(f.legal_representative_name)},"status":"filed",'
        f'"subject_id":{q_subject},"subject_name":{_QUOTE(f.subject_name)},"summary":{_QUOTE(f.summary)},'
        f'"suspensions":[]}}'
    )
    linked = []
    if rep:
        linked.append(f'{{"role": "legal_representative", "subject_id": {_QUOTE(rep)}}}')
    if ctl:
        linked.append(f'{{"role": "actual_controller", "subject_id": {_QUOTE(ctl)}}}')
    p_head = f'{{"applies_from": {p_applies}, "authority": {authority}, "category": {category}, '
    p_mid = f', "linked": [{", ".join(linked)}], "reason": null, '
    p_tail = (
        f', "recorded_at": {p_now}, "status": "filed", "subject_id": {q_subject}, "type": "filed", '
        f'"valid_until": {p_until}}}'
    )
    if linked:  # as json.dumps writes a list of texts: ", " between items
        ids = f"[{', '.join([q_subject, *(_QUOTE(x) for x in (rep, ctl) if x)])}]"
    else:
        ids = f"[{q_subject}]"
    record = (
        None, f.authority, f.external_id, f.category, subject, f.subject_name, f.decision_no,
        sqlite_date(f.decided_on), db_start, db_until, f.legal_basis,
        f.summary, rep, f.legal_representative_name, ctl, f.actual_controller_name, "filed", db_applies, None,
        "[]", None, f.content_hash, db_now, db_now,
    )  # fmt: skip
    subs = tuple(
        (sid.canonical, sid.kind, name or "", sid.region_code, sid.region, sid.allowlisted)
        for sid, name in (
            (f.subject, f.subject_name),
            (f.legal_representative, f.legal_representative_name),
            (f.actual_controller, f.actual_controller_name),
        )
        if sid is not None
    )
    texts = (s_head, s_tail, p_head, p_mid, p_tail, ids)
    if dialect == "postgresql":
        return _for_copy(f, subs, texts, record, source)
    return (f.authority, f.external_id, f.content_hash, subs, *texts, record, source)


def _for_copy(f: Filing, subs: Any, texts: tuple[str, ...], record: tuple[Any, ...], source: Any) -> Prepared:
    """The PostgreSQL form: the texts as COPY's text format writes them, the record row as one line but for its
    leading id and version, and each subject as (id, line but for created_at). The writer then sends whole
    batches to COPY as text, with no per-value conversion on its thread (the import's bottleneck).

    Every text value of a record is inside its state JSON, where a backslash, tab, newline or return becomes an
    escape with a backslash: a state without one needs no escaping anywhere.
    """
    if "\\" in texts[0] or "\\" in texts[1]:
        esc = copy_value
        line = "\t".join([esc(v) for v in record[1:20]] + [esc(v) for v in record[21:]])
        rows = tuple(
            (sub[0], "\t".join([*(esc(v) for v in sub[:5]), "t" if sub[5] else "f"])) for sub in subs
        )
        return (f.authority, f.external_id, f.content_hash, rows, *(esc(t) for t in texts), line, source)
    # The common case, with no escaping: nulls written as \N without a call per value (this runs per row).
    values = [*record[1:20], *record[21:]]
    line = "\t".join([v if v is not None else "\\N" for v in values])
    rows = tuple(
        (sub[0], f"{sub[0]}\t{sub[1]}\t{sub[2]}\t{_null(sub[3])}\t{_null(sub[4])}\t{'t' if sub[5] else 'f'}")
        for sub in subs
    )
    return (f.authority, f.external_id, f.content_hash, rows, *texts, line, source)


def _null(v: str | None) -> str:
    return "\\N" if v is None else v


# --- worker processes ---------------------------------------------------------------------------------------

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
    if text and isinstance(source, str):
        try:
            row = loads(source)
        except json.JSONDecodeError as exc:
            return ("json", line, f"invalid JSON: {exc.msg} at column {exc.colno}")
    else:
        row = source
    try:
        f = check_row(row, catalogue, now, allowlist)
    except RowInvalid as exc:
        return ("bad", line, row, exc.errors)
    kept = row if origin is None else origin
    return ("ok", line, prepare(f, catalogue, now, dialect, kept), key_hash(f.authority, f.external_id))


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


def refile(
    catalogue: Catalogue, now: dt.datetime, allowlist: frozenset[str], row_of: Callable[[Any], Any]
) -> Callable[[Prepared], Filing]:
    """``filing_of`` for :func:`write_prepared`: check the item's source row (``row_of(source)``) again."""

    def filing_of(p: Prepared) -> Filing:
        return check_row(row_of(p[11]), catalogue, now, allowlist)

    return filing_of
