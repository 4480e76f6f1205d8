"""One export from start to finish: the listings, the format's writer, and the files moved into place."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from ..catalogue import Catalogue
from .dictionary import measures_rows, write_dictionary, write_measures
from .output import DigestWriter, companions, sha256_file, staged
from .source import public_listings
from .tables import write_csv, write_parquet

__all__ = ["Written", "run_export"]


@dataclass(frozen=True, slots=True)
class Written:
    records: int
    units: int  # entities (ftm) or rows
    sha256: str  # of the extract's bytes


def _tagger(key_file: str) -> Callable[[str], str]:
    from ..api.budget import LookupHasher  # the keyed hash of decision 0904

    hasher = LookupHasher(key_file)

    def tag(value: str) -> str:
        return hasher.tag("ftm-entity:" + value).removeprefix("idh:")

    return tag


def run_export(
    engine: Engine,
    catalogue: Catalogue,
    fmt: str,
    out: Path | None,
    at: dt.datetime,
    key_file: str,
    started: dt.datetime,
) -> Written:
    """Export as of ``at`` to ``out`` (None: standard output; not for parquet). Every file appears at once when
    all are written (the extract, and beside a table its dictionary and measures), or none does. ``started``: when
    the export began (an ``at`` not before it lets the records projection narrow the reading)."""
    batches = public_listings(engine, catalogue, at, current=at >= started)
    if fmt == "ftm":
        from .ftm import Tagger, write_ftm  # loads followthemoney (two seconds) only when asked

        tag: Tagger = _tagger(key_file)
    with ExitStack() as stack:
        if out is None:
            sys.stdout.flush()
            w = DigestWriter(sys.stdout.buffer)
            if fmt == "ftm":
                records, units = write_ftm(batches, w, tag)
            else:
                records = units = write_csv(batches, w)
            sys.stdout.buffer.flush()
            return Written(records, units, w.hexdigest())
        tmp = stack.enter_context(staged(out))
        if fmt == "parquet":
            records = units = write_parquet(batches, str(tmp))
        else:
            with tmp.open("w", encoding="utf-8", newline="") as f:
                if fmt == "ftm":
                    records, units = write_ftm(batches, f, tag)
                else:
                    records = units = write_csv(batches, f)
        if fmt != "ftm":
            dictionary, measures = (stack.enter_context(staged(p)) for p in companions(out))
            with dictionary.open("w", encoding="utf-8", newline="") as f:
                write_dictionary(f)
            with measures.open("w", encoding="utf-8", newline="") as f:
                write_measures(f, measures_rows(catalogue))
        return Written(records, units, sha256_file(tmp))
    raise AssertionError("unreachable")  # pragma: no cover
