"""Bulk import of record rows from JSON Lines or CSV, streamed in batches with bounded memory.

Default is all-or-nothing: the whole file is checked and written inside one transaction, and any bad row rolls
everything back. ``skip_invalid`` commits the good rows and writes each bad one, with its reasons, to
``FILE.rejects.jsonl``. Re-importing an identical row changes nothing; a changed row with the same key is an
amendment.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ..catalogue import Catalogue
from .rows import COLUMNS, Filing, RowError, RowInvalid, check_row
from .writer import Conflict, file_batch

__all__ = ["FileInvalid", "ImportReport", "import_file", "read_rows"]

BATCH = 2000
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


def read_rows(path: Path, on_bytes: Callable[[int], None] | None = None) -> Iterator[tuple[int, Any]]:
    """Yield (line number, row) pairs; raise :class:`FileInvalid` naming the line on any unreadable input."""
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".csv"):
        raise FileInvalid(f"{path}: unsupported file type {suffix!r} (use .jsonl, .ndjson or .csv)")
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise FileInvalid(f"{path}: cannot open: {exc.strerror}") from None
    with raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")
        seen = False
        try:
            if suffix == ".csv":
                reader = csv.DictReader(text, strict=True)
                try:
                    header = reader.fieldnames
                except csv.Error as exc:
                    raise FileInvalid(f"{path}:1: broken CSV header: {exc}") from None
                if not header:
                    raise FileInvalid(f"{path}: empty file: no header and no rows")
                unknown = [h for h in header if h not in COLUMNS]
                if unknown:
                    raise FileInvalid(f"{path}:1: {unknown[0]}: unknown column (known: {', '.join(COLUMNS)})")
                if len(set(header)) != len(header):
                    raise FileInvalid(f"{path}:1: a column appears twice in the header")
                last = raw.tell()
                for row in reader:
                    seen = True
                    if None in row or any(v is None for v in row.values()):
                        raise FileInvalid(f"{path}:{reader.line_num}: row has a different number of fields "
                                          f"than the header ({len(header)})")
                    if on_bytes:
                        pos = raw.tell()
                        on_bytes(pos - last)
                        last = pos
                    yield reader.line_num, {k: v for k, v in row.items() if v != ""}
            else:
                for n, line in enumerate(text, start=1):
                    if on_bytes:
                        on_bytes(len(line.encode()))
                    if not line.strip():
                        continue
                    seen = True
                    try:
                        yield n, json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise FileInvalid(f"{path}:{n}: invalid JSON: {exc.msg} at column {exc.colno}") from None
        except csv.Error as exc:
            raise FileInvalid(f"{path}:{reader.line_num}: broken CSV: {exc}") from None
        except UnicodeDecodeError as exc:
            raise FileInvalid(f"{path}: not UTF-8: {exc.reason} (byte 0x{exc.object[exc.start]:02x}); "
                              "re-save the file as UTF-8") from None
        if not seen:
            raise FileInvalid(f"{path}: empty file: no rows")


def _key_hash(authority: str, external_id: str) -> int:
    # 8 bytes per key instead of the strings: keeps duplicate detection within bounded memory at 10^6 rows.
    return int.from_bytes(hashlib.blake2b(f"{authority}\0{external_id}".encode(), digest_size=8).digest(), "big")


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
    on_bytes: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import ``path``; see the module docstring for the all-or-nothing and skip-invalid rules."""
    started = dt.datetime.now(dt.UTC)
    now = now or started
    report = ImportReport()
    seen: dict[int, int] = {}
    rejects_path = path.with_name(path.name + ".rejects.jsonl")
    rejects = None

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
                rejects = rejects_path.open("w", encoding="utf-8")
                report.rejects_path = rejects_path
            rejects.write(json.dumps({"line": line, "row": row, "errors": [str(e) for e in errors]},
                                     ensure_ascii=False, default=str) + "\n")

    try:
        with engine.connect() as conn:
            tx = conn.begin()
            try:
                batch: list[Filing] = []

                batches = 0

                def flush() -> None:
                    nonlocal batches
                    for o in file_batch(conn, batch, catalogue, actor, now):
                        setattr(report, o.action, getattr(report, o.action) + 1)
                    batch.clear()
                    batches += 1
                    if batches in _ANALYZE_AFTER and conn.dialect.name == "postgresql":
                        # Statistics from before a large import make PostgreSQL's planner think the tables are
                        # tiny, and it then filters key lookups instead of probing the index: refresh them as
                        # the tables grow (ANALYZE counts this transaction's own rows).
                        conn.exec_driver_sql("ANALYZE records, subjects")

                for line, row in read_rows(path, on_bytes):
                    report.rows += 1
                    try:
                        filing = check_row(row, catalogue, now, allowlist)
                    except RowInvalid as exc:
                        reject(line, row, exc.errors)
                        continue
                    key = _key_hash(filing.authority, filing.external_id)
                    if key in seen:
                        reject(line, row, [RowError("external_id", filing.external_id,
                                                    f"the same authority and external_id as line {seen[key]}")])
                        continue
                    seen[key] = line
                    if report.rejected and not skip_invalid:
                        continue  # keep checking to report every bad row, but write nothing more
                    batch.append(filing)
                    if len(batch) >= BATCH:
                        flush()
                if batch and (skip_invalid or not report.rejected):
                    flush()
            except Conflict as exc:
                tx.rollback()
                report.rejected += 1
                report.errors.append(f"{path}: {exc}")
                if on_error:
                    on_error(f"{path}: {exc}")
                raise FileInvalid(f"{path}: {exc}") from None
            except BaseException:
                tx.rollback()
                raise
            if report.rejected and not skip_invalid:
                tx.rollback()
            else:
                tx.commit()
                report.committed = True
    finally:
        if rejects is not None:
            rejects.close()
    report.seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return report
