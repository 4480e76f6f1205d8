"""The public lists as tables: CSV (UTF-8, a header row) or Parquet, one row per published record in force,
with the columns of :data:`~socialcredit.export.dictionary.COLUMNS`. Both are written a batch at a time."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from typing import Any

from .dictionary import COLUMNS, row_of
from .output import TextOut
from .source import Listing

__all__ = ["write_csv", "write_parquet"]


# A cell a spreadsheet would run as a formula (a name filed as "=HYPERLINK(...)"): CSV extracts are opened in
# spreadsheets, so such text gets a leading apostrophe (OWASP's CSV injection advice); Parquet keeps values as filed.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _text(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, str) and v.startswith(_FORMULA):
        return "'" + v
    return v


def write_csv(batches: Iterable[list[Listing]], out: TextOut) -> int:
    """Write the header and a row per listing; returns the number of rows."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow([c.name for c in COLUMNS])
    n = 0
    for batch in batches:
        w.writerows([_text(v) for v in row_of(item)] for item in batch)
        n += len(batch)
    return n


def write_parquet(batches: Iterable[list[Listing]], path: str) -> int:
    """Write a Parquet file, a row group per non-empty batch, typed as the dictionary says."""
    import pyarrow as pa  # only here: an export to CSV or FtM needs none of it
    import pyarrow.parquet as pq

    types = {"string": pa.string(), "date": pa.date32(), "integer": pa.int32()}
    schema = pa.schema([pa.field(c.name, types[c.type], nullable=c.nullable) for c in COLUMNS])
    n = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:  # type: ignore[no-untyped-call]
        for batch in batches:
            if not batch:
                continue
            cols = list(zip(*(row_of(item) for item in batch), strict=True))
            writer.write_table(
                pa.Table.from_arrays(
                    [pa.array(c, type=f.type) for c, f in zip(cols, schema, strict=True)], schema=schema
                )
            )
            n += len(batch)
    return n
