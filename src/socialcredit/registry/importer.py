"""Bulk import of record rows from JSON Lines or CSV, streamed in batches with bounded memory.

Default is all-or-nothing: the whole file is checked and written inside one transaction, and any bad row rolls
everything back. ``skip_invalid`` commits the good rows and writes each bad one, with its reasons, to
``FILE.rejects.jsonl``. Re-importing an identical row changes nothing; a changed row with the same key is an
amendment.

The pipeline: the main thread reads and decodes lines; worker processes (large files) check rows and build
their storage texts (:mod:`.checks`); the main thread keeps file order, rejects repeated keys and batches;
one writer thread writes batches under the registry's write lock while the next rows are checked.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import itertools
import json
import os
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, Engine

from ..catalogue import Catalogue
from ..store.clock import stamp
from .checks import (
    GC_THRESHOLD,
    check_block,
    check_chunk,
    check_one,
    encoding_error,
    init_worker,
    json_error,
    loads,
)
from .keylines import KeyLines
from .prepared import SOURCE, Prepared, refile
from .rows import COLUMNS, Filing, RowError
from .workers import Workers
from .writer import Conflict, write_lock, write_prepared

__all__ = ["FileInvalid", "ImportReport", "auto_workers", "import_file", "read_rows"]

BATCH = 1000
# PostgreSQL takes 2,000 rows a batch: each batch costs seven statements (lookups, then a COPY a table), and
# alternating pairs at 300,000 rows ran in 0.94 of the time (SQLite's 2,000-row batches ran slower, 1.08).
BATCH_POSTGRESQL = 2000
_CHUNK = 1000  # CSV rows per task sent to a worker process
_BLOCK = 1 << 18  # bytes of JSON lines per task sent to a worker process
_JSON_LINES = (".jsonl", ".ndjson")
_FILE_ERRORS = frozenset({"json", "encoding"})  # result tags of a line that makes the whole file invalid
_ANALYZE_AFTER = frozenset({1, 10, 100})  # batch numbers


class FileInvalid(ValueError):
    """The file itself cannot be read (encoding, syntax, header, empty)."""


@dataclass
class ImportReport:
    rows: int = 0
    filed: int = 0
    amended: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)  # the first 1,000, as FILE:LINE: field: reason
    rejects_path: Path | None = None
    committed: bool = False
    seconds: float = 0.0


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise FileInvalid(f"{path}: cannot open: {exc.strerror}") from None


def _decoded(path: Path, raw: BinaryIO, on_position: Callable[[int], None] | None) -> Iterator[str]:
    """The file's lines as text, decoded one line at a time so an encoding error can name its line."""
    for n, line in enumerate(raw, start=1):
        if on_position is not None and n % 1000 == 0:
            on_position(raw.tell())
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FileInvalid(f"{path}:{n}: {encoding_error(line, exc)}") from None
        yield text[1:] if n == 1 and text.startswith("\ufeff") else text  # a byte-order mark is not data


def read_rows(path: Path, on_position: Callable[[int], None] | None = None) -> Iterator[tuple[int, Any]]:
    """Yield (line number, row) pairs; raise :class:`FileInvalid` naming the line on any unreadable input.

    ``on_position`` is called every 1,000 lines with the number of bytes read so far (for a progress bar).
    """
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".csv"):
        raise FileInvalid(f"{path}: file type: expected .jsonl, .ndjson or .csv, found {suffix or 'none'!r}")
    raw = _open(path)
    with raw:
        lines = _decoded(path, raw, on_position)
        if suffix == ".csv":
            yield from _csv_rows(path, lines)
            return
        seen = False
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            seen = True
            try:
                yield n, loads(line)
            except json.JSONDecodeError as exc:
                raise FileInvalid(f"{path}:{n}: {json_error(exc)}") from None
        if not seen:
            raise FileInvalid(f"{path}: empty file: expected at least one row")


def _csv_rows(path: Path, lines: Iterator[str]) -> Iterator[tuple[int, Any]]:
    reader = csv.reader(lines, strict=True)
    start = 1
    try:
        header = next(reader, None)
        if not header or header == [""]:
            raise FileInvalid(f"{path}: empty file: expected a header line and at least one row")
        for name in header:
            if name not in COLUMNS:
                raise FileInvalid(f"{path}:1: {name}: unknown column (known: {', '.join(COLUMNS)})")
        twice = next((h for h in header if header.count(h) > 1), None)
        if twice is not None:
            raise FileInvalid(f"{path}:1: {twice}: the column appears twice in the header")
        seen = False
        start = reader.line_num + 1
        for values in reader:
            if values:
                seen = True
                if len(values) != len(header):
                    raise FileInvalid(
                        f"{path}:{start}: row: expected {len(header)} fields (as in the header), "
                        f"found {len(values)}"
                    )
                yield start, {k: v for k, v in zip(header, values, strict=True) if v != ""}
            start = reader.line_num + 1
    except csv.Error as exc:
        hint = "; a quoted field is never closed" if "end of data" in str(exc) else ""
        raise FileInvalid(f"{path}:{start}: broken CSV quoting: {exc}{hint}") from None
    if not seen:
        raise FileInvalid(f"{path}: empty file: a header but no rows")


class _LineAt:
    """The row on the JSON line at a byte offset, read again from the file: worker processes send a row's offset,
    not its text, which would double what crosses between processes; an amendment or a repeated key needs the
    row itself. ``os.pread``: the reading thread and the writer's share one descriptor."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def __call__(self, offset: int) -> Any:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDONLY)
        parts = []
        while data := os.pread(self.fd, 1 << 16, offset):
            cut = data.find(b"\n")
            parts.append(data if cut < 0 else data[:cut])
            if cut >= 0:
                break
            offset += len(data)
        text = b"".join(parts).decode("utf-8")
        return loads(text[1:] if text.startswith("\ufeff") else text)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _Writer:
    """Writes batches on a second thread while the caller checks the next rows.

    The database drivers release the GIL while the database works, so checking (Python) and writing (SQLite's
    C code, or PostgreSQL in its own process) overlap. Only this thread touches the connection until
    :meth:`finish`; the queue holds one batch at most, so memory stays bounded.
    """

    def __init__(
        self,
        conn: Connection,
        catalogue: Catalogue,
        actor: str,
        now: dt.datetime,
        report: ImportReport,
        filing_of: Callable[[Prepared], Filing],
    ) -> None:
        self.conn, self.catalogue, self.actor, self.now, self.report = conn, catalogue, actor, now, report
        self.filing_of = filing_of
        self.queue: queue.Queue[list[Prepared] | None] = queue.Queue(maxsize=1)
        self.failure: BaseException | None = None
        self.batches = 0
        self.counters: list[int] = []  # the next record id and sequence number, across batches
        self.thread = threading.Thread(target=self._run, name="import-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (batch := self.queue.get()) is not None:
            if self.failure is not None:
                continue  # drain without writing: the transaction will be rolled back
            try:
                self._write(batch)
            except BaseException as exc:  # handed to the caller's thread by finish()
                self.failure = exc

    def _write(self, batch: list[Prepared]) -> None:
        report = self.report
        for _, action, _ in write_prepared(
            self.conn, batch, self.catalogue, self.actor, self.now, self.filing_of, self.counters
        ):
            setattr(report, action, getattr(report, action) + 1)
        self.batches += 1
        if self.batches in _ANALYZE_AFTER and self.conn.dialect.name == "postgresql":
            # Statistics from before a large import make PostgreSQL's planner think the tables are tiny,
            # and it then filters key lookups instead of probing the index: refresh them as the tables grow
            # (ANALYZE counts this transaction's own rows). Only the looked-up columns: the whole tables took four
            # times as long at 100,000 rows, most of it in the long texts no lookup uses.
            self.conn.exec_driver_sql("ANALYZE records (authority, external_id), subjects (id)")

    def put(self, batch: list[Prepared]) -> None:
        if self.failure is not None:
            self.finish()
        self.queue.put(batch)

    def finish(self, raising: bool = True) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        if raising and self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure


def _sources(path: Path, on_position: Callable[[int], None] | None) -> Iterator[list[tuple[int, Any]]]:
    """Chunks of (line, JSON text | CSV row) for the worker processes; file-level errors raised here."""
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".csv"):
        yield from ([(n, r)] for n, r in read_rows(path, on_position))  # raises the file-type error
        return
    raw = _open(path)
    with raw:
        lines = _decoded(path, raw, on_position)
        items: Iterator[tuple[int, Any]] = (
            _csv_rows(path, lines)
            if suffix == ".csv"
            else ((n, t) for n, t in enumerate(lines, 1) if t.strip())
        )
        chunk: list[tuple[int, Any]] = []
        seen = False
        for item in items:
            chunk.append(item)
            if len(chunk) >= _CHUNK:
                seen = True
                yield chunk
                chunk = []
        if chunk:
            yield chunk
        elif not seen:
            raise FileInvalid(f"{path}: empty file: expected at least one row")


def _blocks(path: Path, on_position: Callable[[int], None] | None) -> Iterator[tuple[int, int, bytes]]:
    """The JSON lines file as blocks of whole lines, each with the number of its first line and its offset.

    The worker processes decode and split the blocks themselves: this process only reads and counts newlines,
    so it is not the pipeline's bottleneck (decoding line by line here cost more than writing them).
    """
    raw = _open(path)
    with raw:
        line, done = 1, 0
        parts: list[bytes] = []  # the start of a line not yet ended (joined once, however long the line)
        while data := raw.read(_BLOCK):
            cut = data.rfind(b"\n") + 1
            if not cut:
                parts.append(data)
                continue
            block = b"".join([*parts, data[:cut]]) if parts else data[:cut]
            parts = [data[cut:]] if cut < len(data) else []
            yield line, done, block
            line += block.count(b"\n")
            done += len(block)
            if on_position is not None:
                on_position(done)
        if parts:
            yield line, done, b"".join(parts)


def _checked(
    path: Path,
    catalogue: Catalogue,
    now: dt.datetime,
    allowlist: frozenset[str],
    dialect: str,
    workers: int,
    on_position: Callable[[int], None] | None,
) -> Generator[list[tuple[Any, ...]], None, None]:
    """The rows' check results in chunks, in file order: checked in this process, or spread over ``workers``
    processes."""
    suffix = path.suffix.lower()
    if workers <= 0 or suffix not in (*_JSON_LINES, ".csv"):
        read = read_rows(path, on_position)  # raises the file-type error
        while chunk := list(itertools.islice(read, _CHUNK)):
            yield [check_one(n, row, catalogue, now, allowlist, dialect, text=False) for n, row in chunk]
        return
    tasks: Iterator[tuple[Callable[[Any], list[tuple[Any, ...]]], Any]] = (
        ((check_block, b) for b in _blocks(path, on_position))
        if suffix in _JSON_LINES
        else ((check_chunk, c) for c in _sources(path, on_position))
    )
    rows = 0
    with Workers[list[tuple[Any, ...]]](workers, init_worker, (catalogue, now, allowlist, dialect)) as pool:
        for done in pool.run(tasks):
            rows += len(done)
            yield done
    if not rows:  # only blank lines (a CSV file says so in _sources)
        raise FileInvalid(f"{path}: empty file: expected at least one row")


class _Collector:
    """While any import runs in this process, the cycle collector runs as in the workers (see
    ``checks.GC_THRESHOLD``); the process's own setting comes back when the last one ends."""

    lock = threading.Lock()
    imports = 0
    saved: tuple[int, int, int] = gc.get_threshold()

    @classmethod
    def enter(cls) -> None:
        with cls.lock:
            if not cls.imports:
                cls.saved = gc.get_threshold()
                gc.set_threshold(max(cls.saved[0], GC_THRESHOLD), *cls.saved[1:])
            cls.imports += 1

    @classmethod
    def leave(cls) -> None:
        with cls.lock:
            cls.imports -= 1
            if not cls.imports:
                gc.set_threshold(*cls.saved)


def auto_workers(path: Path) -> int:
    """Worker processes worth starting for ``path``: none for small files (start-up costs more)."""
    try:
        size = path.stat().st_size
    except OSError:
        return 0
    return 0 if size < 8_000_000 else max(1, min(4, (os.cpu_count() or 1)))


def import_file(
    engine: Engine,
    path: Path,
    catalogue: Catalogue,
    actor: str,
    *,
    skip_invalid: bool = False,
    allowlist: frozenset[str] = frozenset(),
    now: dt.datetime | None = None,
    on_error: Callable[[str], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    on_commit: Callable[[Connection, ImportReport], None] | None = None,
) -> ImportReport:
    """Import ``path``; see the module docstring for the all-or-nothing and skip-invalid rules.

    ``on_error`` receives each ``FILE:LINE: field: reason`` as found; ``on_progress`` (rows, bytes read) is
    called every 1,000 lines. ``workers`` processes check rows in parallel (default: :func:`auto_workers`).
    ``on_commit`` runs in the import's transaction, write lock held, just before it commits (the audit entry
    of the import commits with it, or neither does).
    """
    started = dt.datetime.now(dt.UTC)
    report = ImportReport()
    keys = KeyLines()
    rejects_path = path.with_name(path.name + ".rejects.jsonl")
    rejects = None
    workers = auto_workers(path) if workers is None else workers

    def reject(line: int, row: Any, errors: list[RowError]) -> None:
        nonlocal rejects
        report.rejected += 1
        for e in errors:
            msg = f"{path}:{line}: {e}"
            if len(report.errors) < 1000:
                report.errors.append(msg)
            if on_error:
                on_error(msg)
        if skip_invalid:
            if rejects is None:
                # backslashreplace: a lone surrogate in a rejected row is written as its JSON escape (\ud800)
                rejects = rejects_path.open("w", encoding="utf-8", errors="backslashreplace")
                report.rejects_path = rejects_path
            body = {"line": line, "row": row, "errors": [str(e) for e in errors]}
            rejects.write(json.dumps(body, ensure_ascii=False, default=str) + "\n")

    line_at = _LineAt(path)

    def row_of(source: Any) -> Any:
        """A checked row's source: its offset in a JSON lines file (from a worker), else the row itself."""
        return line_at(source) if type(source) is int else source

    def admitted(chunk: list[tuple[Any, ...]]) -> Iterator[Prepared]:
        """The chunk's good rows whose key is new to the file; the rest rejected, a file error raised."""
        ok = [r for r in chunk if r[0] == "ok"]
        firsts = iter(keys.first_lines([r[3] for r in ok], [r[1] for r in ok]))
        for res in chunk:
            if res[0] in _FILE_ERRORS:
                raise FileInvalid(f"{path}:{res[1]}: {res[2]}")
            report.rows += 1
            line = res[1]
            if res[0] == "bad":
                reject(line, res[2], res[3])
                continue
            p = res[2]
            first = next(firsts)
            if first != line:
                reason = f"the same authority and external_id as line {first}"
                reject(line, row_of(p[SOURCE]), [RowError("external_id", p[1], reason)])
                continue
            yield p

    def position(pos: int) -> None:
        if on_progress is not None:
            on_progress(report.rows, pos)

    size = BATCH_POSTGRESQL if engine.dialect.name == "postgresql" else BATCH
    results: Generator[list[tuple[Any, ...]], None, None] | None = None
    _Collector.enter()
    try:
        with engine.connect() as conn:
            tx = conn.begin()
            # The whole file is recorded at one instant read under the write lock, held from here to the commit
            # (decision 0002): the rows are checked and built with it, so it is taken before the first is read.
            write_lock(conn)
            now = stamp(conn, now or started)
            results = _checked(path, catalogue, now, allowlist, engine.dialect.name, workers, position)
            writer = _Writer(conn, catalogue, actor, now, report, refile(catalogue, now, allowlist, row_of))
            try:
                batch: list[Prepared] = []
                for chunk in results:
                    for p in admitted(chunk):
                        if report.rejected and not skip_invalid:
                            continue  # keep checking to report every bad row, but write nothing more
                        batch.append(p)
                        if len(batch) >= size:
                            writer.put(batch)
                            batch = []
                if batch and (skip_invalid or not report.rejected):
                    writer.put(batch)
                writer.finish()
            except Conflict as exc:
                writer.finish(raising=False)
                tx.rollback()
                report.rejected += 1
                report.errors.append(f"{path}: {exc}")
                if on_error:
                    on_error(f"{path}: {exc}")
                raise FileInvalid(f"{path}: {exc}") from None
            except BaseException:
                writer.finish(raising=False)
                tx.rollback()
                raise
            if report.rejected and not skip_invalid:
                tx.rollback()
            else:
                if on_commit is not None:
                    on_commit(conn, report)
                tx.commit()
                report.committed = True
    finally:
        _Collector.leave()
        if results is not None:
            results.close()  # stops the worker pool, if any
        line_at.close()
        if rejects is not None:
            rejects.close()
    report.seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return report
