"""Writing screening results in the input's format, a chunk at a time (see files.py for reading).

Cells written to CSV or Excel that a spreadsheet would read as a formula (text starting with ``= + - @``, tab or
carriage return) get a leading apostrophe (OWASP, CSV injection): the carried-through cells, the header and the
reason. JSON Lines and Parquet are written as read. See docs/decisions/0903-screen-files-and-escaping.md.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from .files import ADDED, Chunk, ParquetReader, Reader

__all__ = ["Added", "Writer", "escape", "escape_column", "open_writer"]

_DANGER = ("=", "+", "-", "@", "\t", "\r")
_DANGER_RE = r"^[=+\-@\t\r]"


def escape(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, made inert with a leading apostrophe (OWASP)."""
    if type(value) is str and value and value[0] in _DANGER:
        return "'" + value
    return value


def escape_column(values: list[Any] | tuple[Any, ...]) -> list[Any] | tuple[Any, ...]:
    """``escape`` over a column, looked at in one step: most columns have no cell to escape."""
    try:
        col = pl.Series(values, dtype=pl.String, strict=True)
    except (TypeError, pl.exceptions.PolarsError):
        return [escape(v) for v in values]
    if not col.str.contains(_DANGER_RE).any():
        return values
    return [escape(v) for v in values]


Added = tuple[list[str], list[float | None], list[Any], list[str | None]]  # status, score, matches, reason


def _json_text(matches: list[Any]) -> list[str]:
    dumps = orjson.dumps
    return ["[]" if not m else dumps(m).decode() for m in matches]


class _CsvWriter:
    """Rows written by Polars a chunk at a time (the Python csv writer is several times slower on the long
    JSON cells of matches); escaping is one expression per column."""

    def __init__(self, path: Path, columns: list[str], encoding: str) -> None:
        self._f = path.open("wb")
        self._encoding = encoding
        head = io.StringIO()
        csv.writer(head, lineterminator="\n").writerow([escape(c) for c in (*columns, *ADDED)])
        self._f.write(head.getvalue().encode(encoding))
        # One byte-order mark, at the top: the chunks after the header are encoded without one.
        native = (
            "utf-16-le" if sys.byteorder == "little" else "utf-16-be"
        )  # what "utf-16" writes after its BOM
        self._body_encoding = {"utf-8-sig": "utf-8", "utf-16": native}.get(encoding, encoding)
        self._n = len(columns)

    def write(self, chunk: Chunk, added: Added) -> None:
        status, score, matches, reason = added
        cols = [*zip(*chunk.payload, strict=True)] if chunk.payload else [()] * self._n
        data: dict[str, Any] = {
            f"c{i}": pl.Series(col, dtype=pl.String, strict=False) for i, col in enumerate(cols)
        }
        data["status"] = pl.Series(status, dtype=pl.String)
        data["score"] = pl.Series(score, dtype=pl.Float64)
        data["matches"] = pl.Series(_json_text(matches), dtype=pl.String)
        data["reason"] = pl.Series(reason, dtype=pl.String)
        texts = [f"c{i}" for i in range(len(cols))] + ["reason"]
        frame = pl.DataFrame(data).with_columns(
            pl.when(pl.col(c).str.contains(_DANGER_RE))
            .then(pl.lit("'") + pl.col(c))
            .otherwise(pl.col(c))
            .alias(c)
            for c in texts
        )
        if self._body_encoding == "utf-8":
            frame.write_csv(self._f, include_header=False)
        else:
            self._f.write(frame.write_csv(include_header=False).encode(self._body_encoding))

    def close(self) -> None:
        self._f.close()


class _XlsxWriter:
    def __init__(self, path: Path, columns: list[str]) -> None:
        import openpyxl

        self._path = path
        self._wb = openpyxl.Workbook(write_only=True)
        self._ws = self._wb.create_sheet("screening")
        self._ws.append([escape(c) for c in (*columns, *ADDED)])

    def write(self, chunk: Chunk, added: Added) -> None:
        status, score, matches, reason = added
        append = self._ws.append
        for r, s, sc, m, e in zip(chunk.payload, status, score, _json_text(matches), reason, strict=True):
            append([*map(escape, r), s, sc, m, escape(e)])

    def close(self) -> None:
        self._wb.save(self._path)


class _JsonlWriter:
    def __init__(self, path: Path, encoding: str) -> None:
        self._f = path.open("w", encoding=encoding, newline="\n")

    def write(self, chunk: Chunk, added: Added) -> None:
        out = io.StringIO()
        dumps = orjson.dumps
        for r, s, sc, m, e in zip(chunk.payload, *added, strict=True):
            row = {} if r is None else r
            row = {**row, "status": s, "score": sc, "matches": m}
            if e is not None:
                row["reason"] = e
            out.write(dumps(row).decode())
            out.write("\n")
        self._f.write(out.getvalue())

    def close(self) -> None:
        self._f.close()


class _ParquetWriter:
    def __init__(self, path: Path, schema: Any) -> None:
        self._path = path
        self._schema = schema  # the input's, for an input without rows
        self._w: Any = None

    def write(self, chunk: Chunk, added: Added) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        status, score, matches, reason = added
        batch = chunk.payload
        for name, values, typ in (
            ("status", status, pa.string()),
            ("score", score, pa.float64()),
            ("matches", _json_text(matches), pa.string()),
            ("reason", reason, pa.string()),
        ):
            batch = batch.append_column(name, pa.array(values, typ))
        if self._w is None:
            self._w = pq.ParquetWriter(self._path, batch.schema)  # type: ignore[no-untyped-call]
        self._w.write_batch(batch)

    def close(self) -> None:
        if self._w is None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = self._schema
            for name, typ in zip(ADDED, (pa.string(), pa.float64(), pa.string(), pa.string()), strict=True):
                schema = schema.append(pa.field(name, typ))
            self._w = pq.ParquetWriter(self._path, schema)  # type: ignore[no-untyped-call]
        self._w.close()


Writer = _CsvWriter | _XlsxWriter | _JsonlWriter | _ParquetWriter


def open_writer(path: Path, fmt: str, reader: Reader, encoding: str | None) -> Writer:
    columns = reader.columns or []
    if fmt == "csv":
        return _CsvWriter(path, columns, encoding or "utf-8")
    if fmt == "xlsx":
        return _XlsxWriter(path, columns)
    if fmt == "jsonl":
        return _JsonlWriter(path, encoding or "utf-8")
    assert isinstance(reader, ParquetReader)
    return _ParquetWriter(path, reader.schema)
