"""Index snapshots: the engine's index at a known event sequence, as one file a check node loads in seconds.

The file (decision 1101)::

    magic      8 bytes   b"SCIDXSNP"
    length     4 bytes   big-endian: the header's length in bytes (at most 1 MiB)
    header     JSON      format_version, catalogue version and digest, seq, created_at, cutoff, counts, the
                         sections' places in the body, body_bytes, body_sha256, the rules and authorities coded
    body       Arrow IPC streams (zstd), one per section: ``subjects`` (every subject, those with entries
                         first, each with its number of entries and whether it is known), ``entries`` (one
                         row per index entry, in the subjects' runs), ``pauses`` (suspensions, by entry row)
    trailer    32 bytes  SHA-256 of every byte before it (header included)

``seq`` is the newest record event the index reflects: the feed's ``event_id`` (``Nats-Msg-Id`` on NATS), so a
node that loads the snapshot applies the events after it. Loading reads columns, not records: no JSON, no
datetime parsing, no SQL; the subject table (engine/table.py) is made from the subjects column as arrays, and
what is left is the index's own Python objects. Refused, with the reason
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
import os
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, ValidationError

from ..catalogue import Catalogue
from ..engine.index import INF, Entry, Index, as_tuple, bulk
from ..engine.rules import Rule, Rules, compile_rules
from ..engine.table import MAX_KEY, SubjectTable, key_width

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
# 2: the subjects section (one row per subject, with its number of entries and whether it is known) replaces
# version 1's subject column in the entries and its known section; loading builds the subject table from it.
FORMAT_VERSION = 2
_MAX_HEADER = 1 << 20
_PREFIX = len(MAGIC) + 4
_TRAILER = 32
_COMPRESSION = "zstd"

# Subjects with entries first, in the index's order, each with its run of entry rows; then every known subject
# without entries. Rows are the subject table's rows (engine/table.py), so loading builds it as arrays.
SUBJECTS = pa.schema([("subject", pa.string()), ("entries", pa.int32()), ("known", pa.bool_())])
ENTRIES = pa.schema(
    [
        ("record_id", pa.int64()),
        ("rule", pa.int32()),  # into header.rules: [category, reach]
        ("authority", pa.int32()),  # into header.authorities
        ("start", pa.float64()),  # POSIX seconds
        ("until", pa.float64()),  # POSIX seconds; inf: no end
        ("via_subject", pa.string()),  # the organisation, for a linked person
    ]
)
PAUSES = pa.schema([("entry", pa.int64()), ("start", pa.float64()), ("until", pa.float64())])
# The subject table's keys (its rows' identifiers, NUL-padded to header.table["width"], as 8-byte words) and its
# hash table (buckets x 4 slots, seeded with header.table["seed"]): stored, they are not hashed and placed again.
KEYS = pa.schema([("words", pa.int64())])
SLOTS = pa.schema([("slot", pa.int64())])
_SCHEMAS = {"subjects": SUBJECTS, "entries": ENTRIES, "pauses": PAUSES, "keys": KEYS, "slots": SLOTS}


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
    table: dict[str, int] | None  # the subject table's seed and key width; None: not stored (made on load)


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
    known = index.known
    run: list[int] = []
    rid: list[int] = []
    rule: list[int] = []
    auth: list[int] = []
    start: list[float] = []
    until: list[float] = []
    via: list[str | None] = []
    p_entry: list[int] = []
    p_start: list[float] = []
    p_until: list[float] = []
    for value in index.entries.values():
        for e in as_tuple(value):
            if e.pauses:
                for a, b in e.pauses:
                    p_entry.append(len(rid))
                    p_start.append(a)
                    p_until.append(b)
            rid.append(e.record_id)
            rule.append(rule_no.setdefault((e.rule.category, e.rule.via), len(rule_no)))
            auth.append(auth_no.setdefault(e.authority, len(auth_no)))
            start.append(e.start)
            until.append(e.until)
            via.append(e.via_subject)
        run.append(len(value) if isinstance(value, tuple) else 1)
    with_entries = list(index.entries)
    rest = sorted(known - index.entries.keys())
    in_known = [s in known for s in with_entries] + [True] * len(rest)
    tables = {
        "subjects": pa.Table.from_arrays(
            [
                pa.array(with_entries + rest, pa.string()),
                pa.array(run + [0] * len(rest), pa.int32()),
                pa.array(in_known, pa.bool_()),
            ],
            schema=SUBJECTS,
        ),
        "entries": pa.Table.from_arrays(
            [
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
    }
    table = _table_of(index, tables["subjects"].column("subject").combine_chunks())
    if table is not None:
        seed, slots = table.placement()
        width = table.key_width
        tables["keys"] = pa.table([pa.array(table.keys.view(np.int64))], schema=KEYS)
        tables["slots"] = pa.table([pa.array(slots.reshape(-1))], schema=SLOTS)
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
        table=None if table is None else {"seed": seed, "width": width},
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


def _table_of(index: Index, names: pa.StringArray) -> SubjectTable | None:
    """A subject table whose rows are the subjects section's (None if an identifier cannot be tabled)."""
    keys = _keys(names)
    if keys is None:
        return None
    values = list(index.entries.values())
    start = np.fromiter((v.start if v.__class__ is Entry else 0.0 for v in values), np.float64, len(values))
    until = np.fromiter((v.until if v.__class__ is Entry else 0.0 for v in values), np.float64, len(values))
    coded = list(index.rules.by_key.values())
    no = {id(r): i for i, r in enumerate(coded)}
    single = np.fromiter(
        (no[id(v.rule)] if v.__class__ is Entry and not v.pauses else -1 for v in values),
        np.int64,
        len(values),
    )
    return SubjectTable.from_rows(index.rules, keys, values, (start, until, single, coded))


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


def _shared(values: npt.NDArray[np.float64]) -> list[float]:
    """The floats as Python floats, equal values one object (the index's memory layout)."""
    if len(values) == 0:
        return []
    uniq, inverse = np.unique(values, return_inverse=True)
    return list(map(uniq.tolist().__getitem__, inverse.tolist()))


def _coded(values: npt.NDArray[np.int32], names: list[Any], path: Path, what: str) -> list[Any]:
    if len(values) == 0:
        return []
    if values.min() < 0 or values.max() >= len(names):
        raise SnapshotRefused(path, f"a {what} code outside the header's list (corrupt)")
    return list(map(names.__getitem__, values.tolist()))


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
    subjects, entries, pauses = (_section(path, header, body, n) for n in ("subjects", "entries", "pauses"))
    runs = subjects.column("entries").to_numpy()
    with_entries = int(np.count_nonzero(runs))
    in_known = subjects.column("known").to_numpy()
    counts = {
        "entries": entries.num_rows,
        "pauses": pauses.num_rows,
        "subjects": with_entries,
        "known": int(np.count_nonzero(in_known)),
    }
    for name, n in counts.items():
        if header.counts.get(name) != n:
            raise SnapshotRefused(path, f"{n} {name} rows, the header says {header.counts.get(name)}")
    if (runs < 0).any() or runs[with_entries:].any() or int(runs.sum()) != entries.num_rows:
        raise SnapshotRefused(path, "the subjects' runs of entries do not cover the entries (corrupt)")
    if subjects.column("subject").null_count:
        raise SnapshotRefused(path, "a subject without an identifier (corrupt)")
    coded_rules = []
    for pair in header.rules:
        rule = rules.by_key.get((pair[0], pair[1])) if len(pair) == 2 else None
        if rule is None:
            raise SnapshotRefused(path, f"rule {pair!r} is not in the catalogue (corrupt)")
        coded_rules.append(rule)
    with bulk(freeze=True):
        index = _index(path, rules, header, body, subjects, runs, in_known, entries, pauses, coded_rules)
    return Loaded(index, header.seq, header)


def _index(
    path: Path,
    rules: Rules,
    header: SnapshotHeader,
    body: memoryview,
    subjects: pa.Table,
    runs: npt.NDArray[np.int32],
    in_known: npt.NDArray[np.bool_],
    entries: pa.Table,
    pauses: pa.Table,
    coded_rules: list[Rule],
) -> Index:
    codes = entries.column("rule").to_numpy()
    start, until = entries.column("start").to_numpy(), entries.column("until").to_numpy()
    p_start, p_until = pauses.column("start").to_numpy(), pauses.column("until").to_numpy()
    if any(np.isnan(a).any() for a in (start, until, p_start, p_until)) or np.isinf(start).any():
        raise SnapshotRefused(path, "an instant that is not a number, or a start at infinity (corrupt)")
    rule_of = _coded(codes, coded_rules, path, "rule")
    linked = np.array([r.via != "subject" for r in coded_rules], bool)
    has_via = entries.column("via_subject").is_valid().to_numpy(zero_copy_only=False)
    wrong = np.flatnonzero(linked[codes] != has_via) if len(codes) else codes
    if len(wrong):
        raise SnapshotRefused(
            path,
            f"entry {int(wrong[0])} (record {entries.column('record_id')[int(wrong[0])]}): a linked person's "
            "entry without its organisation, or the reverse (corrupt)",
        )
    p_entry = pauses.column("entry").to_numpy()
    if len(p_entry) and (p_entry.min() < 0 or p_entry.max() >= len(codes)):
        raise SnapshotRefused(path, "a suspension of an entry that is not in the file (corrupt)")
    n = len(codes)
    pause_of: list[tuple[tuple[float, float], ...]] = [()] * n
    by_entry: dict[int, list[tuple[float, float]]] = {}
    for i, a, b in zip(p_entry.tolist(), p_start.tolist(), p_until.tolist(), strict=True):
        by_entry.setdefault(i, []).append((a, b))
    for i, v in by_entry.items():
        pause_of[i] = tuple(v)
    made = list(
        map(
            Entry,
            entries.column("record_id").to_numpy().tolist(),
            rule_of,
            _shared(start),
            _shared(until),
            pause_of,
            entries.column("via_subject").to_numpy(zero_copy_only=False).tolist(),
            _coded(entries.column("authority").to_numpy(), header.authorities, path, "authority"),
        )
    )
    k = int(np.count_nonzero(runs))
    first = np.zeros(k, np.int64)
    first[1:] = np.cumsum(runs[: k - 1]) if k else first[1:]
    values: list[Any] = list(map(made.__getitem__, first.tolist()))
    for j in np.flatnonzero(runs[:k] > 1).tolist():
        a = int(first[j])
        values[j] = tuple(made[a : a + int(runs[j])])
    names = subjects.column("subject").combine_chunks()
    ids = names.to_numpy(zero_copy_only=False)
    cutoff = -INF if header.cutoff is None else dt.datetime.fromisoformat(header.cutoff).timestamp()
    index = Index(rules, cutoff)
    index.entries = dict(zip(ids[:k].tolist(), values, strict=True))
    index.known = set(ids.tolist() if in_known.all() else ids[in_known].tolist())
    unknown = ids[:k][~in_known[:k]].tolist()  # reached by a record, not in the subjects table: rare
    if (
        len(index.entries) != k
        or len(index.known) != int(np.count_nonzero(in_known))
        or any(map(index.known.__contains__, unknown))
    ):
        raise SnapshotRefused(path, "a subject listed twice (corrupt)")
    if (
        header.table is None
    ):  # an identifier the table cannot hold (no valid one): it sorts them out one by one
        index.table = SubjectTable(rules, index.entries, index.known)
    else:
        # One entry without suspensions: its rule's code; anything else -1 (as arrays: no loop per subject).
        paused = np.zeros(n, bool)
        paused[p_entry] = True
        single = np.where((runs[:k] == 1) & ~paused[first], codes[first], -1)
        keys, placed = _stored_table(path, header, body, len(ids))
        index.table = SubjectTable.from_rows(
            rules, keys, values, (start[first], until[first], single, coded_rules), placed
        )
    return index


def _stored_table(
    path: Path, header: SnapshotHeader, body: memoryview, n: int
) -> tuple[npt.NDArray[np.bytes_], tuple[int, npt.NDArray[np.int64]]]:
    """The subject table's keys and hash table as the file holds them, checked for shape."""
    assert header.table is not None
    seed, width = header.table.get("seed", -1), header.table.get("width", 0)
    words = _section(path, header, body, "keys").column("words").to_numpy()
    slots = _section(path, header, body, "slots").column("slot").to_numpy()
    buckets = len(slots) // 4
    if not slots.flags.writeable:  # refreshes place new subjects in it
        slots = slots.copy()
    # The slots' row numbers (their low 32 bits) without a temporary of the whole table: a strided view.
    rows = slots.view(np.uint32)[0 if sys.byteorder == "little" else 1 :: 2] if len(slots) else slots
    if (
        not 0 <= seed < 1 << 64
        or width <= 0
        or width % 8
        or len(words) * 8 != (n + 1) * width
        or buckets * 4 != len(slots)
        or buckets & (buckets - 1)
        or buckets * 4 < n
        or (len(slots) and int(rows.max()) > n)
    ):
        raise SnapshotRefused(path, "the subject table does not fit the subjects (corrupt)")
    return words.view(f"S{width}"), (seed, slots.reshape(buckets, 4))


_PAD_BYTES = 1 << 30  # the most one utf8_rpad call of _keys may size its result for


def _keys(names: pa.StringArray) -> npt.NDArray[np.bytes_] | None:
    """The identifiers as the subject table's fixed-width keys, with row 0 the placeholder; None if one of them
    is not ASCII, holds a NUL or is longer than the table holds (engine/table.py's rule)."""
    n = len(names)
    if not n:
        return np.zeros(1, "S8")
    offsets = np.frombuffer(names.buffers()[1], np.int32, n + 1, names.offset * 4)
    text = np.frombuffer(names.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    longest = int(np.diff(offsets).max())
    if longest > MAX_KEY or (text >= 0x80).any() or (text == 0).any():
        return None
    width = key_width(longest)
    keys = np.zeros(n + 1, f"S{width}")
    # Every value now ``width`` bytes, back to back (pyarrow's compute functions are made at import: untyped).
    # By slices: utf8_rpad sizes its result for four bytes a character, past a 32-bit string array's 2 GiB
    # at about 2.5x10^7 subjects (the 5x10^6-record run).
    rows = max(1, _PAD_BYTES // (4 * width))
    for start in range(0, n, rows):
        part = names.slice(start, rows)
        padded = pc.utf8_rpad(part, width, padding="\x00")  # type: ignore[attr-defined]
        at = int(np.frombuffer(padded.buffers()[1], np.int32, 1, padded.offset * 4)[0])
        keys[1 + start : 1 + start + len(part)] = np.frombuffer(
            padded.buffers()[2], f"S{width}", len(part), at
        )
    return keys
