"""Index snapshots: the engine's index at a known event sequence, as one file a check node loads in seconds.

The file (decision 1101)::

    magic      8 bytes   b"SCIDXSNP"
    length     4 bytes   big-endian: the header's length in bytes (at most 1 MiB)
    header     JSON      format_version, catalogue version and digest, seq, created_at, cutoff, counts, the
                         sections' places in the body, body_bytes, body_sha256, the rules and authorities coded
    body       Arrow IPC streams (zstd), one per section: ``entries`` (one row per index entry, subjects in
                         runs), ``pauses`` (suspensions, by entry row), ``known`` (every known subject)
    trailer    32 bytes  SHA-256 of every byte before it (header included)

``seq`` is the newest record event the index reflects: the feed's ``event_id`` (``Nats-Msg-Id`` on NATS), so a
node that loads the snapshot applies the events after it. Loading reads columns, not records: no JSON, no
datetime parsing, no SQL; what it costs is the index's own Python objects. Refused, with the reason
(:class:`SnapshotRefused`): not a snapshot, an unknown format version, a header that does not read, a file
truncated or longer than its header says, a checksum that does not match, another catalogue version, a body
whose columns are not the format's.

The checksums find corruption, not forgery: whoever can write the file can write a matching checksum. Keep
snapshots where only the registry's operators write (docs/scale.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import struct
import tempfile
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, ValidationError

from ..catalogue import Catalogue
from ..engine.index import INF, Entry, Index, as_tuple
from ..engine.rules import Rules, compile_rules
from ..engine.table import SubjectTable

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "Loaded",
    "SnapshotHeader",
    "SnapshotRefused",
    "load_snapshot",
    "read_header",
    "write_snapshot",
]

MAGIC = b"SCIDXSNP"
FORMAT_VERSION = 1
_MAX_HEADER = 1 << 20
_PREFIX = len(MAGIC) + 4
_TRAILER = 32
_COMPRESSION = "zstd"

ENTRIES = pa.schema(
    [
        ("subject", pa.string()),
        ("record_id", pa.int64()),
        ("rule", pa.int32()),  # into header.rules: [category, reach]
        ("authority", pa.int32()),  # into header.authorities
        ("start", pa.float64()),  # POSIX seconds
        ("until", pa.float64()),  # POSIX seconds; inf: no end
        ("via_subject", pa.string()),  # the organisation, for a linked person
    ]
)
PAUSES = pa.schema([("entry", pa.int64()), ("start", pa.float64()), ("until", pa.float64())])
KNOWN = pa.schema([("subject", pa.string())])
_SCHEMAS = {"entries": ENTRIES, "pauses": PAUSES, "known": KNOWN}


class SnapshotRefused(Exception):
    """The file is not loaded; ``reason`` says why."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


class SnapshotHeader(BaseModel):
    """What ``snapshot inspect`` prints. Every field is checked on read."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    format_version: int
    catalogue_version: str
    catalogue_digest: str
    seq: int
    created_at: str  # ISO 8601, UTC
    cutoff: str | None  # ISO 8601: records ended at or before it are left out (checks before it: the store)
    counts: dict[str, int]  # entries, subjects (with entries), known, pauses
    sections: dict[str, list[int]]  # name -> [offset, length] in the body
    body_bytes: int
    body_sha256: str
    compression: str
    rules: list[list[str]]
    authorities: list[str]


@dataclass(frozen=True)
class Loaded:
    """A loaded snapshot: the index, the event sequence it reflects, and its header."""

    index: Index
    seq: int
    header: SnapshotHeader


def _digest(version: str) -> str:
    return version.rpartition("+")[2]


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=_COMPRESSION)) as w:
        w.write_table(table)
    return bytes(sink.getvalue())


def write_snapshot(
    index: Index, seq: int, out: Path, *, created_at: dt.datetime | None = None
) -> SnapshotHeader:
    """Write ``index`` (reflecting events up to ``seq``) to ``out``: to a temporary file beside it, then
    renamed over it, so a reader finds the old file or the new one, never half of one."""
    rule_no: dict[tuple[str, str], int] = {}
    auth_no: dict[str, int] = {}
    subj: list[str] = []
    rid: list[int] = []
    rule: list[int] = []
    auth: list[int] = []
    start: list[float] = []
    until: list[float] = []
    via: list[str | None] = []
    p_entry: list[int] = []
    p_start: list[float] = []
    p_until: list[float] = []
    for sid, value in index.entries.items():
        for e in as_tuple(value):
            if e.pauses:
                for a, b in e.pauses:
                    p_entry.append(len(rid))
                    p_start.append(a)
                    p_until.append(b)
            subj.append(sid)
            rid.append(e.record_id)
            rule.append(rule_no.setdefault((e.rule.category, e.rule.via), len(rule_no)))
            auth.append(auth_no.setdefault(e.authority, len(auth_no)))
            start.append(e.start)
            until.append(e.until)
            via.append(e.via_subject)
    tables = {
        "entries": pa.Table.from_arrays(
            [
                pa.array(subj, pa.string()),
                pa.array(rid, pa.int64()),
                pa.array(rule, pa.int32()),
                pa.array(auth, pa.int32()),
                pa.array(start, pa.float64()),
                pa.array(until, pa.float64()),
                pa.array(via, pa.string()),
            ],
            schema=ENTRIES,
        ),
        "pauses": pa.Table.from_arrays(
            [pa.array(p_entry, pa.int64()), pa.array(p_start, pa.float64()), pa.array(p_until, pa.float64())],
            schema=PAUSES,
        ),
        "known": pa.Table.from_arrays([pa.array(sorted(index.known), pa.string())], schema=KNOWN),
    }
    parts = {name: _ipc(t) for name, t in tables.items()}
    sections, offset = {}, 0
    for name, blob in parts.items():
        sections[name] = [offset, len(blob)]
        offset += len(blob)
    body = b"".join(parts.values())
    version = index.rules.version
    header = SnapshotHeader(
        format_version=FORMAT_VERSION,
        catalogue_version=version,
        catalogue_digest=_digest(version),
        seq=int(seq),
        created_at=(created_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(),
        cutoff=None if index.cutoff == -INF else dt.datetime.fromtimestamp(index.cutoff, dt.UTC).isoformat(),
        counts={
            "entries": len(rid),
            "subjects": len(index.entries),
            "known": len(index.known),
            "pauses": len(p_entry),
        },
        sections=sections,
        body_bytes=len(body),
        body_sha256=hashlib.sha256(body).hexdigest(),
        compression=_COMPRESSION,
        rules=[list(k) for k in rule_no],
        authorities=list(auth_no),
    )
    head = json.dumps(header.model_dump(), ensure_ascii=False, sort_keys=True).encode()
    prefix = MAGIC + struct.pack(">I", len(head)) + head
    whole = hashlib.sha256(prefix)
    whole.update(body)
    out = Path(out)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(prefix)
            fh.write(body)
            fh.write(whole.digest())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return header


def _header(path: Path, data: bytes) -> tuple[SnapshotHeader, int]:
    """The header and where the body starts; refuses before anything else is read."""
    if len(data) < _PREFIX or data[: len(MAGIC)] != MAGIC:
        raise SnapshotRefused(path, "not an index snapshot (no SCIDXSNP mark at the start)")
    (length,) = struct.unpack(">I", data[len(MAGIC) : _PREFIX])
    if length > _MAX_HEADER:
        raise SnapshotRefused(path, f"header of {length} bytes: more than {_MAX_HEADER} (corrupt)")
    if len(data) < _PREFIX + length:
        raise SnapshotRefused(
            path, f"truncated: {len(data)} bytes, the header alone needs {_PREFIX + length}"
        )
    try:
        raw = json.loads(data[_PREFIX : _PREFIX + length])
    except (UnicodeDecodeError, ValueError) as exc:
        raise SnapshotRefused(path, f"header does not read as JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise SnapshotRefused(path, "header is not a JSON object")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise SnapshotRefused(
            path, f"format_version {version!r} unknown: this version reads format {FORMAT_VERSION} only"
        )
    try:
        header = SnapshotHeader.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise SnapshotRefused(path, f"header field {where}: {err['msg']}") from None
    return header, _PREFIX + length


def _verified(path: Path, data: bytes) -> tuple[SnapshotHeader, memoryview]:
    header, at = _header(path, data)
    want = at + header.body_bytes + _TRAILER
    if len(data) < want:
        raise SnapshotRefused(path, f"truncated: {len(data)} bytes, the header says {want}")
    if len(data) > want:
        raise SnapshotRefused(path, f"{len(data) - want} bytes after the end the header gives (corrupt)")
    body = memoryview(data)[at : at + header.body_bytes]
    if hashlib.sha256(body).hexdigest() != header.body_sha256:
        raise SnapshotRefused(path, "body checksum (SHA-256) does not match the header: the file is corrupt")
    if hashlib.sha256(memoryview(data)[: want - _TRAILER]).digest() != data[want - _TRAILER :]:
        raise SnapshotRefused(path, "file checksum (SHA-256) does not match: the header is corrupt")
    return header, body


def read_header(path: Path | str) -> SnapshotHeader:
    """The header of a snapshot whose checksums hold (any catalogue); :class:`SnapshotRefused` otherwise."""
    path = Path(path)
    return _verified(path, _read(path))[0]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SnapshotRefused(path, exc.strerror or str(exc)) from None


def _section(path: Path, header: SnapshotHeader, body: memoryview, name: str) -> pa.Table:
    place = header.sections.get(name)
    if place is None or len(place) != 2:
        raise SnapshotRefused(path, f"section {name} missing from the header")
    offset, length = place
    if offset < 0 or length < 0 or offset + length > len(body):
        raise SnapshotRefused(path, f"section {name} lies outside the body")
    try:
        table = pa.ipc.open_stream(pa.py_buffer(body[offset : offset + length])).read_all()
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise SnapshotRefused(path, f"section {name} does not read ({exc})") from None
    if table.schema != _SCHEMAS[name]:
        raise SnapshotRefused(path, f"section {name} has columns {table.schema.names}, not the format's")
    return table


def _shared(column: pa.ChunkedArray) -> tuple[float, ...]:
    """The column's floats as Python floats, equal values one object (the index's memory layout)."""
    values = column.to_numpy()
    if len(values) == 0:
        return ()
    uniq, inverse = np.unique(values, return_inverse=True)
    objects = uniq.tolist()
    got = itemgetter(*inverse.tolist())(objects)
    return got if isinstance(got, tuple) else (got,)


def _coded(codes: pa.ChunkedArray, names: list[Any], path: Path, what: str) -> tuple[Any, ...]:
    values = codes.to_numpy()
    if len(values) == 0:
        return ()
    if values.min() < 0 or values.max() >= len(names):
        raise SnapshotRefused(path, f"a {what} code outside the header's list (corrupt)")
    got = itemgetter(*values.tolist())(names)
    return got if isinstance(got, tuple) else (got,)


def load_snapshot(path: Path | str, catalogue: Catalogue | Rules) -> Loaded:
    """The index a snapshot holds, for ``catalogue`` (or its compiled rules), and the sequence it reflects.

    Build a Checker on it with ``Checker(engine, catalogue, prebuilt=(loaded.index, loaded.seq))``."""
    path = Path(path)
    rules = catalogue if isinstance(catalogue, Rules) else compile_rules(catalogue)
    header, body = _verified(path, _read(path))
    if header.catalogue_version != rules.version:
        raise SnapshotRefused(
            path,
            f"made with catalogue {header.catalogue_version}; this catalogue is {rules.version} "
            "(make a snapshot with this catalogue, or load the catalogue it was made with)",
        )
    entries, pauses, known = (_section(path, header, body, n) for n in ("entries", "pauses", "known"))
    counts = {"entries": entries.num_rows, "pauses": pauses.num_rows, "known": known.num_rows}
    for name, n in counts.items():
        if header.counts.get(name) != n:
            raise SnapshotRefused(path, f"{n} {name} rows, the header says {header.counts.get(name)}")
    coded_rules = []
    for pair in header.rules:
        rule = rules.by_key.get((pair[0], pair[1])) if len(pair) == 2 else None
        if rule is None:
            raise SnapshotRefused(path, f"rule {pair!r} is not in the catalogue (corrupt)")
        coded_rules.append(rule)
    starts, untils = _shared(entries.column("start")), _shared(entries.column("until"))
    p_start, p_until = pauses.column("start").to_numpy(), pauses.column("until").to_numpy()
    if any(
        np.isnan(a).any()
        for a in (entries.column("start").to_numpy(), entries.column("until").to_numpy(), p_start, p_until)
    ):
        raise SnapshotRefused(path, "an instant that is not a number (corrupt)")
    by_entry: dict[int, list[tuple[float, float]]] = {}
    for i, a, b in zip(pauses.column("entry").to_pylist(), p_start.tolist(), p_until.tolist(), strict=True):
        by_entry.setdefault(i, []).append((a, b))
    pause_of = {i: tuple(v) for i, v in by_entry.items()}
    index = _entries_index(
        path,
        rules,
        -INF if header.cutoff is None else dt.datetime.fromisoformat(header.cutoff).timestamp(),
        entries.column("subject").to_pylist(),
        entries.column("record_id").to_pylist(),
        _coded(entries.column("rule"), coded_rules, path, "rule"),
        _coded(entries.column("authority"), header.authorities, path, "authority"),
        starts,
        untils,
        entries.column("via_subject").to_pylist(),
        pause_of,
    )
    if len(index.entries) != header.counts.get("subjects"):
        raise SnapshotRefused(path, "a subject's entries are not in one run (corrupt)")
    index.known = set(known.column("subject").to_pylist())
    index.table = SubjectTable(rules, index.entries, index.known)
    return Loaded(index, header.seq, header)


def _entries_index(
    path: Path,
    rules: Rules,
    cutoff: float,
    subjects: list[str],
    record_ids: list[int],
    rule_of: tuple[Any, ...],
    authorities: tuple[Any, ...],
    starts: tuple[float, ...],
    untils: tuple[float, ...],
    vias: list[str | None],
    pause_of: dict[int, tuple[tuple[float, float], ...]],
) -> Index:
    index = Index(rules, cutoff)
    out: dict[str, Entry | tuple[Entry, ...]] = {}
    run: list[Entry] = []
    prev: str | None = None
    no_pause: tuple[tuple[float, float], ...] = ()
    get = pause_of.get
    for i, (sid, rid, rule, auth, a, b, via) in enumerate(
        zip(subjects, record_ids, rule_of, authorities, starts, untils, vias, strict=True)
    ):
        if (via is None) != (rule.via == "subject") or math.isinf(a):
            raise SnapshotRefused(path, f"entry {i} ({sid}, record {rid}) is not a valid entry (corrupt)")
        e = Entry(rid, rule, a, b, get(i, no_pause), via, auth)
        if sid != prev:
            if run:
                out[prev] = run[0] if len(run) == 1 else tuple(run)  # type: ignore[index]
            run, prev = [e], sid
        else:
            run.append(e)
    if run:
        out[prev] = run[0] if len(run) == 1 else tuple(run)  # type: ignore[index]
    index.entries = out
    return index
