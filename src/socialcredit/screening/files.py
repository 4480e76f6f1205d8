"""Reading screening files: CSV, JSON Lines, Parquet and Excel (.xlsx), in chunks (writers.py writes them).

Every reader yields :class:`Chunk`\\ s of at most ``size`` rows, in file order, and never drops a row: a row
that cannot be read (an empty line, bad JSON) is kept with its reason in ``errors``. The writer takes a chunk
and the columns the screening adds and writes it at once, so memory stays bounded by the chunk size.

Text files are decoded as UTF-8 (with or without a byte-order mark), else as GB18030 (what Excel on a Chinese
system writes), unless ``encoding`` is given; a file neither decodes is refused, naming both. Output text goes
back in the input's encoding. Excel formulas in the input are read as their text and never evaluated
(openpyxl does not evaluate; the formula text is what reaches the matcher and the output).
See docs/decisions/0903-screen-files-and-escaping.md.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import polars as pl

__all__ = [
    "ADDED",
    "FIELDS",
    "FORMATS",
    "Chunk",
    "ParquetReader",
    "Reader",
    "ScreenInputError",
    "digest",
    "open_reader",
    "resolve_format",
]

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".xlsx": "xlsx"}
FIELDS = ("subject_id", "name", "birth_date", "region", "kind")  # what screening reads; the rest is carried
ADDED = ("status", "score", "matches", "reason")  # what screening adds to every row
_BLOCK = 1 << 20


class ScreenInputError(Exception):
    """Bad input: the message is one line naming the file and what is wrong."""


@dataclass
class Chunk:
    """Up to ``size`` rows: ``payload`` in the reader's own form (rows of cells, dicts, an Arrow batch), the
    screening ``fields`` as text (None when absent), and the reason a row could not be read (None if it could)."""

    payload: Any
    fields: dict[str, list[str | None]]
    errors: list[str | None]
    first_line: int = 1  # the file line (CSV, JSON Lines) or sheet row (Excel) of the chunk's first row
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.errors)


def resolve_format(path: Path, forced: str | None = None) -> str:
    if forced is not None:
        if forced not in set(FORMATS.values()):
            raise ScreenInputError(f"--format: {forced!r}: expected one of csv, jsonl, parquet, xlsx")
        return forced
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ScreenInputError(
            f"{path}: unknown format {path.suffix or '(no extension)'!r}: expected .csv, .jsonl, .parquet "
            "or .xlsx (or --format)"
        )
    return fmt


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def _text(value: Any) -> str | None:
    """A screening field as text: blank is absent; numbers (an identifier typed as one) are their digits."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = value if isinstance(value, str) else str(value)
    text = text.strip()
    return text or None


def _texts(values: list[Any]) -> list[str | None]:
    """``_text`` of a column: in whole-column steps when it is all text (CSV), else cell by cell (Excel)."""
    try:
        col = pl.Series(values, dtype=pl.String, strict=True)
    except (TypeError, pl.exceptions.PolarsError):
        return [_text(v) for v in values]
    stripped = col.str.strip_chars()
    return stripped.set(stripped == "", None).to_list()


def _blank(row: list[Any] | tuple[Any, ...]) -> bool:
    try:
        return not "".join(row).strip()  # CSV: every cell is text
    except TypeError:
        pass
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in row)


# -- encodings ----------------------------------------------------------------------------------------------


def _decodes(path: Path, encoding: str) -> tuple[bool, int]:
    """Whether the whole file decodes; else the byte offset of the first failure."""
    dec = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with path.open("rb") as f:
        while True:
            block = f.read(_BLOCK)
            try:
                dec.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                return False, offset + exc.start
            if not block:
                return True, -1
            offset += len(block)


def detect_encoding(path: Path, forced: str | None = None) -> tuple[str, str]:
    """(encoding to read with, encoding to write with): the given one, else UTF-8, else GB18030."""
    if forced is not None:
        try:
            name = codecs.lookup(forced).name
        except LookupError:
            raise ScreenInputError(f"--encoding: {forced!r}: unknown encoding") from None
        ok, at = _decodes(path, name)
        if not ok:
            raise ScreenInputError(f"{path}: does not decode as {name} (byte offset {at})")
        return name, name
    with path.open("rb") as f:
        head = f.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and _decodes(path, "utf-16")[0]:
        return "utf-16", "utf-16"
    ok, at = _decodes(path, "utf-8-sig")
    if ok:
        return "utf-8-sig", "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    if _decodes(path, "gb18030")[0]:
        return "gb18030", "gb18030"
    raise ScreenInputError(
        f"{path}: neither UTF-8 (invalid byte at offset {at}) nor GB18030; convert it or pass --encoding"
    )


# -- headers ------------------------------------------------------------------------------------------------


def check_header(path: Path, header: list[str]) -> None:
    if not header or _blank(header):
        raise ScreenInputError(f"{path}: missing header: the first row must name the columns")
    if not {"subject_id", "name"} & set(header):
        shown = ", ".join(repr(h) for h in header[:5])
        raise ScreenInputError(
            f"{path}: missing header: no subject_id or name column in the first row ({shown})"
        )
    for i, h in enumerate(header, 1):
        if not h:
            raise ScreenInputError(f"{path}: header: column {i} has no name")
        if h in ADDED:
            raise ScreenInputError(f"{path}: header: column {h!r} is one screening adds; rename it")
    dup = next((h for i, h in enumerate(header) if h in header[:i]), None)
    if dup is not None:
        raise ScreenInputError(f"{path}: header: column {dup!r} appears twice")


# -- readers ------------------------------------------------------------------------------------------------


class _TabularReader:
    """CSV and Excel: a header row, then rows of cells aligned to it."""

    def __init__(
        self,
        path: Path,
        header: list[str],
        rows: Iterator[list[Any]],
        line: Callable[[], int] = lambda: 0,
        close: Callable[[], None] = lambda: None,
    ) -> None:
        check_header(path, header)
        self.path = path
        self.columns = header
        self._rows = rows
        self._line = line
        self._close = close
        self._pick = [(f, header.index(f)) for f in FIELDS if f in header]

    def _take(self, size: int) -> list[list[Any]]:
        try:
            return list(islice(self._rows, size))
        except csv.Error as exc:
            raise ScreenInputError(f"{self.path}:{self._line()}: not CSV: {exc}") from None
        except UnicodeDecodeError as exc:  # only with a forced encoding that lied (detection read it all)
            raise ScreenInputError(f"{self.path}: does not decode: {exc.reason}") from None

    def chunks(self, size: int) -> Iterator[Chunk]:
        try:
            yield from self._chunks(size)
        finally:
            self._close()

    def _chunks(self, size: int) -> Iterator[Chunk]:
        n = len(self.columns)
        while batch := self._take(size):
            errors: list[str | None] = [None] * len(batch)
            lengths = set(map(len, batch))
            if lengths != {n}:  # short rows are padded; long ones cut, with the reason
                for i, row in enumerate(batch):
                    if len(row) < n:
                        batch[i] = row + [None] * (n - len(row))
                    elif len(row) > n:
                        errors[i] = f"{len(row)} cells, the header names {n}; the cells past it are dropped"
                        batch[i] = row[:n]
            for i in np.flatnonzero(_blank_rows(batch, n)).tolist():
                errors[i] = "empty row"
            fields = {f: _texts([r[i] for r in batch]) for f, i in self._pick}
            yield Chunk(batch, fields, errors)


def _blank_rows(rows: list[list[Any]], n: int) -> npt.NDArray[np.bool_]:
    """Which rows have no cell with content: each row's text joined (CSV), else a column at a time."""
    try:
        joined = pl.Series(list(map("".join, rows)), dtype=pl.String)
    except TypeError:
        pass
    else:
        return (joined.str.strip_chars() == "").to_numpy()
    blank = np.ones(len(rows), bool)
    for col in zip(*rows, strict=True) if n else ():
        try:
            series = pl.Series(col, dtype=pl.String, strict=True)
            blank &= (series.is_null() | (series.str.strip_chars() == "")).to_numpy()
        except (TypeError, pl.exceptions.PolarsError):
            blank &= np.fromiter(map(_blank_cell, col), bool, len(col))
    return blank


def _blank_cell(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _csv_reader(path: Path, encoding: str) -> _TabularReader:
    f = path.open(encoding=encoding, newline="")
    reader = csv.reader(f)
    try:
        first = next(reader, None)
    except csv.Error as exc:
        f.close()
        raise ScreenInputError(f"{path}:1: not CSV: {exc}") from None
    header = [] if first is None else [h.strip() for h in first]
    try:
        return _TabularReader(path, header, reader, lambda: reader.line_num, f.close)
    except ScreenInputError:
        f.close()
        raise


def _trailing_blank_dropped(rows: Iterator[list[Any]]) -> Iterator[list[Any]]:
    """Excel sheets often extend past the data with formatted empty rows: those at the end are not rows."""
    held: list[list[Any]] = []
    for item in rows:
        if _blank(item):
            held.append(item)
            continue
        yield from held
        held = []
        yield item


def _xlsx_reader(path: Path) -> _TabularReader:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        # read_only streams the sheet; data_only=False returns a formula's text, never a computed value.
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise ScreenInputError(f"{path}: not an Excel .xlsx workbook: {type(exc).__name__}") from None
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise ScreenInputError(f"{path}: not an Excel .xlsx workbook: {type(exc).__name__}") from None
    ws = wb.worksheets[0]
    it = map(list, ws.iter_rows(values_only=True))
    first = next(it, None)
    header = [] if first is None else ["" if h is None else str(h).strip() for h in first]
    while header and not header[-1]:  # formatted empty columns past the header
        header.pop()
    n = len(header)
    body = (r[:n] if len(r) > n and _blank(r[n:]) else r for r in it)
    return _TabularReader(path, header, _trailing_blank_dropped(body), close=wb.close)


class _JsonlReader:
    """One JSON object per line; every line is a row, blank or not."""

    columns: list[str] | None = None

    def __init__(self, path: Path, encoding: str) -> None:
        self.path = path
        self._f = path.open(encoding=encoding, newline="\n")

    def chunks(self, size: int) -> Iterator[Chunk]:
        payload: list[dict[str, Any] | None] = []
        errors: list[str | None] = []
        first = 1
        with self._f as f:
            for line_no, line in enumerate(f, 1):
                if not payload:
                    first = line_no
                err: str | None = None
                obj: dict[str, Any] | None = None
                if not line.strip():
                    err = "empty row"
                else:
                    try:
                        val = orjson.loads(line)
                    except orjson.JSONDecodeError as exc:
                        err = f"line {line_no}: not JSON: {str(exc).splitlines()[0]}"
                    else:
                        if not isinstance(val, dict):
                            err = f"line {line_no}: not a JSON object"
                        elif not val:
                            err = "empty row"
                        else:
                            taken = next((k for k in ADDED if k in val), None)
                            if taken is not None:  # as a CSV header naming it: never overwritten
                                raise ScreenInputError(
                                    f"{self.path}:{line_no}: key {taken!r} is one screening adds; rename it"
                                )
                            obj = val
                payload.append(obj)
                errors.append(err)
                if len(payload) >= size:
                    yield self._chunk(payload, errors, first)
                    payload, errors = [], []
        if payload:
            yield self._chunk(payload, errors, first)

    @staticmethod
    def _chunk(payload: list[dict[str, Any] | None], errors: list[str | None], first: int) -> Chunk:
        fields = {f: [None if r is None else _text(r.get(f)) for r in payload] for f in FIELDS}
        return Chunk(payload, fields, errors, first)


class ParquetReader:
    def __init__(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            self._file = pq.ParquetFile(path)  # type: ignore[no-untyped-call]
        except (pa.ArrowException, OSError) as exc:
            raise ScreenInputError(f"{path}: not a Parquet file: {str(exc).splitlines()[0]}") from None
        self.path = path
        self.schema = self._file.schema_arrow
        self.columns = list(self.schema.names)
        check_header(path, self.columns)

    def chunks(self, size: int) -> Iterator[Chunk]:
        for batch in self._file.iter_batches(batch_size=size):  # type: ignore[no-untyped-call]
            fields = {
                f: [_text(v) for v in batch.column(f).to_pylist()] for f in FIELDS if f in batch.schema.names
            }
            n = batch.num_rows
            cols = list(fields.values())
            errors: list[str | None] = [
                "empty row" if all(c[i] is None for c in cols) else None for i in range(n)
            ]
            yield Chunk(batch, fields, errors)


Reader = _TabularReader | _JsonlReader | ParquetReader


def open_reader(path: Path, fmt: str, encoding: str | None = None) -> tuple[Reader, str | None]:
    """The reader of ``path`` and, for text formats, the encoding to write the output with."""
    if not path.is_file():
        raise ScreenInputError(f"{path}: no such file")
    if fmt == "parquet":
        return ParquetReader(path), None
    if fmt == "xlsx":
        return _xlsx_reader(path), None
    read_enc, write_enc = detect_encoding(path, encoding)
    if fmt == "csv":
        return _csv_reader(path, read_enc), write_enc
    return _JsonlReader(path, read_enc), write_enc
