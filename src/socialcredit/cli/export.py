"""``socialcredit export``: the public lists for other tools (docs/exports.md, decision 0904)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..export import FORMATS, public_listings
from ..export.dictionary import measures_rows, write_dictionary, write_measures
from ..export.output import DigestWriter, Refused, check_targets, companions, sha256_file, staged
from ..export.tables import write_csv, write_parquet
from ..registry import parse_instant
from ..settings import get_settings
from .common import audit_cli, err_console, fail, open_catalogue, open_db, utcnow

__all__ = ["register"]


def _instant(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except (ValueError, OverflowError):
        fail(f"--at: {value!r}: expected an ISO 8601 date (YYYY-MM-DD) or datetime")


def export(
    format_: Annotated[
        str,
        typer.Option("--format", help="ftm (FollowTheMoney JSON lines), csv or parquet.", show_default=False),
    ],
    out: Annotated[
        str,
        typer.Option(
            "--out", help="File to write, or - for standard output (ftm and csv).", show_default=False
        ),
    ],
    at: Annotated[
        str | None,
        typer.Option("--at", help="The lists as of this instant (ISO date or datetime; default now)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace files that exist.")] = False,
) -> None:
    """Export the public lists: published records in force of public categories, identity numbers masked.

    csv and parquet write OUT.dictionary.csv (the columns) and OUT.measures.csv (each category's measures)
    beside the extract."""
    fmt = format_.strip().lower()
    if fmt not in FORMATS:
        fail(f"--format: {format_!r}: expected one of {', '.join(FORMATS)}")
    as_of = _instant(at) or utcnow()
    to_stdout = out == "-"
    if to_stdout and fmt == "parquet":
        fail("--out: parquet is a binary file; give a file name")
    path = Path(out)
    extra = [] if to_stdout or fmt == "ftm" else list(companions(path))
    try:
        check_targets(([] if to_stdout else [path]) + extra, force)
    except Refused as exc:
        fail(str(exc))
    cat = open_catalogue()
    db = open_db()
    batches = public_listings(db.engine, cat, as_of)
    target = "stdout" if to_stdout else str(path.resolve())
    try:
        if fmt == "ftm":
            from ..api.budget import (
                LookupHasher,
            )  # the keyed hash of decision 0904; loads FtM only when asked
            from ..export.ftm import write_ftm

            hasher = LookupHasher(get_settings().lookup_hash_key_file)

            def tag(value: str) -> str:
                return hasher.tag("ftm-entity:" + value).removeprefix("idh:")

            if to_stdout:
                w = DigestWriter(sys.stdout)
                records, entities = write_ftm(batches, w, tag)
                digest = w.hexdigest()
            else:
                with staged(path) as tmp:
                    with tmp.open("w", encoding="utf-8", newline="") as f:
                        records, entities = write_ftm(batches, f, tag)
                    digest = sha256_file(tmp)
        elif fmt == "csv" and to_stdout:
            w = DigestWriter(sys.stdout)
            records = entities = write_csv(batches, w)
            digest = w.hexdigest()
        else:
            with staged(path) as tmp:
                if fmt == "csv":
                    with tmp.open("w", encoding="utf-8", newline="") as f:
                        records = entities = write_csv(batches, f)
                else:
                    records = entities = write_parquet(batches, str(tmp))
                digest = sha256_file(tmp)
            dictionary, measures = extra
            with staged(dictionary) as tmp, tmp.open("w", encoding="utf-8", newline="") as f:
                write_dictionary(f)
            with staged(measures) as tmp, tmp.open("w", encoding="utf-8", newline="") as f:
                write_measures(f, measures_rows(cat))
    except OSError as exc:
        # Names were read and perhaps written before the failure: the attempt is audited too.
        audit_cli(
            db.engine,
            "export.public_lists",
            f"format:{fmt} at:{as_of.isoformat()} out:{target}",
            f"error: {exc}",
        )
        fail(f"{out}: {exc.strerror or exc}")
    audit_cli(
        db.engine,
        "export.public_lists",
        f"format:{fmt} at:{as_of.isoformat()} out:{target}",
        f"ok: {records} records, {entities} {'entities' if fmt == 'ftm' else 'rows'}, sha256:{digest}",
    )
    if not to_stdout:
        err_console.print(
            f"{records} records, {entities} {'entities' if fmt == 'ftm' else 'rows'} written to {path}"
            + (f" (data dictionary {extra[0].name}, measures {extra[1].name})" if extra else ""),
            markup=False,
            soft_wrap=True,
        )


def register(app: typer.Typer) -> None:
    app.command("export")(export)
