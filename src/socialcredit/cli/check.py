"""``socialcredit check SUBJECT ACTION``: one explained decision, answered straight from the store.

A one-off check reads only the subject's records (no index is built). Exit 0 allowed, 1 denied, 2 bad input.
Each check is audited as ``checks.single`` by ``cli:<OS user>``, as the API audits its checks.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from ..engine import Decision, UnknownAction, evaluate
from ..identifiers import IdentifierError
from ..timefmt import for_json, for_people
from .common import allowlist, audit_cli, console, fail, open_catalogue, open_db, option_instant, utcnow

__all__ = ["register"]


def _show(d: Decision, known_at: dt.datetime, protected: bool) -> None:
    verdict = "[bold green]ALLOWED[/]" if d.allowed else "[bold red]DENIED[/]"
    effects = f"  effects: {', '.join(d.effects)}" if d.effects else ""
    console.print(f"{verdict}  {d.subject}  {d.action}{effects}")
    console.print(f"as of {for_people(d.as_of)}, as known at {for_people(known_at)}")
    if protected:
        console.print(f"protected action: no measure may restrict {d.action}")
    if not d.known:
        console.print("subject not in the registry")
    if d.reasons:
        # Fields down, one column per reason: stays readable in an 80-column terminal.
        table = Table("", show_lines=False)
        for i in range(1, len(d.reasons) + 1):
            # Fold, never cut: a legal basis is one long word in Chinese, and the reader needs all of it.
            table.add_column(f"reason {i}", overflow="fold")
        rows: dict[str, list[str]] = {
            k: []
            for k in (
                "record",
                "category",
                "memorandum",
                "measure",
                "department",
                "effect",
                "legal basis",
                "valid until",
                "via",
            )
        }
        for r in d.reasons:
            # A grade's measure has no record behind it: the model and grade instead (decision 1003).
            rows["record"].append(str(r.record_id) if r.grade is None else f"grade {' '.join(r.grade)}")
            rows["category"].append(r.category)
            rows["memorandum"].append(r.memorandum)
            rows["measure"].append(r.measure)
            rows["department"].append(r.department)
            rows["effect"].append(f"{r.effect} (withheld)" if r.withheld else r.effect)
            rows["legal basis"].append(r.legal_basis)
            rows["valid until"].append(for_people(r.valid_until, empty="until fulfilled"))
            rows["via"].append(r.via if r.via_subject is None else f"{r.via} of {r.via_subject}")
        for name, values in rows.items():
            table.add_row(name, *values)
        console.print(table)
    elif d.known and not protected:
        console.print("no measure applies")
    for note in d.notes:
        console.print(f"note: {note}")
    console.print(f"catalogue {d.catalogue_version}", style="dim")


def check(
    subject: Annotated[
        str, typer.Argument(help="Subject identifier: USCC, resident ID or passport:CCC:NUMBER.")
    ],
    action: Annotated[str, typer.Argument(help="Action code from the catalogue, e.g. transport.air.ticket.")],
    at: Annotated[
        str | None, typer.Option("--at", help="The instant asked about (ISO date or datetime; default now).")
    ] = None,
    known_at: Annotated[
        str | None,
        typer.Option("--known-at", help="Answer with what the registry knew at this instant (default now)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Decision as one JSON object.")] = False,
) -> None:
    """Check whether SUBJECT may do ACTION: exit 0 allowed, 1 denied, 2 bad input."""
    now = utcnow()
    as_of = option_instant(at, "--at") or now
    known = option_instant(known_at, "--known-at")
    cat = open_catalogue()
    db = open_db()
    # Known "now" is what the registry holds when the command runs: echoed, so the answer says what it used.
    known_shown = known or now
    try:
        try:
            (decision,) = evaluate(
                db.engine, cat, [(subject, action)], as_of=as_of, known_at=known, allowlist=allowlist()
            )
        except IdentifierError as exc:
            audit_cli(db.engine, "checks.single", subject, "refused: bad input")
            fail(f"subject: {exc}")
        except UnknownAction as exc:
            audit_cli(db.engine, "checks.single", subject, "refused: bad input")
            fail(f"action: {exc}")
        audit_cli(db.engine, "checks.single", decision.subject, "allowed" if decision.allowed else "denied")
    except SQLAlchemyError as exc:
        fail(f"database: {type(exc).__name__}: {str(exc).splitlines()[0]} (run `socialcredit init`?)")
    finally:
        db.engine.dispose()
    protected = cat.is_protected(decision.action)
    if as_json:
        out = {**decision.to_dict(), "known_at": for_json(known_shown), "protected": protected}
        typer.echo(json.dumps(out, ensure_ascii=False))
    else:
        _show(decision, known_shown, protected)
    raise typer.Exit(0 if decision.allowed else 1)


def register(app: typer.Typer) -> None:
    app.command("check")(check)
