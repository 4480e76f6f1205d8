"""``socialcredit report create | verify``: signed credit reports (decision 0605).

``verify`` exits 0 for a genuine report whose records are unchanged, 1 for a genuine report whose records changed
since (the changes are printed) or one that is not genuine (the reason is printed), 2 for a file that is not a
report, 3 for a file or subject that does not exist (decision 0700).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..identifiers import IdentifierError, parse
from ..reports import BadReport, FontMissing, SubjectNotFound, issue_report, parse_upload, verify_envelope
from ..reports.signing import ReportKeyError
from ..settings import get_settings
from .common import (
    CLI_ROLE,
    EXIT_NOT_FOUND,
    audit_cli,
    cli_actor,
    console,
    fail,
    open_catalogue,
    open_db,
    utcnow,
)

__all__ = ["register"]

group = typer.Typer(help="Credit reports: signed PDFs a machine can verify.", no_args_is_help=True)


@group.command("create")
def create(
    subject: Annotated[
        str, typer.Argument(help="The subject's identifier (resident ID, USCC, passport:...).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the PDF.")],
) -> None:
    """Issue SUBJECT's report (an organisation's: the special-purpose credit report); recorded and audited."""
    settings = get_settings()
    try:
        sid = parse(subject, settings.allowlisted_codes()).canonical
    except IdentifierError as exc:
        fail(f"subject {subject!r}: {exc}")
    cat = open_catalogue()
    db = open_db()
    now = utcnow()
    try:
        issued = issue_report(db, cat, settings, sid, (cli_actor(), CLI_ROLE), now)
    except SubjectNotFound:
        audit_cli(db.engine, "reports.issue", f"subject:{sid}", "refused: 404", now)
        fail(f"no subject {sid} in the registry", EXIT_NOT_FOUND)
    except (FontMissing, ReportKeyError) as exc:
        fail(str(exc))
    try:
        out.write_bytes(issued.pdf)
    except OSError as exc:
        fail(f"{out}: cannot write the report ({exc.strerror}); it was issued as {issued.report_no}")
    console.print(f"{issued.report_no}: {len(issued.report['records'])} records, written to {out}")


@group.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="A report PDF, or the report.json attached to one.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Is FILE a genuine report of this registry, and has anything in it changed since it was issued?"""
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        fail(f"{file}: no such file", EXIT_NOT_FOUND)
    except OSError as exc:
        fail(f"{file}: cannot read ({exc.strerror})")
    ctype = "application/json" if raw.lstrip()[:1] == b"{" else "application/pdf"
    try:
        upload = parse_upload(raw, ctype)
    except BadReport as exc:
        fail(f"{file}: {exc.reason}")
    cat = open_catalogue()
    db = open_db()
    try:
        verdict = verify_envelope(db, cat, get_settings(), upload, utcnow(), (cli_actor(), CLI_ROLE))
    except (FontMissing, ReportKeyError) as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(verdict.to_json(), ensure_ascii=False))
    else:
        console.print(f"{verdict.report_no}: {verdict.summary}", markup=False, soft_wrap=True)
    if not (verdict.genuine and verdict.unchanged):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="report")
