"""``socialcredit objection``, ``repair``, ``fulfil`` and ``expire``: due process at the command line.

Commands act as an operator of the registry (``--actor``, default ``cli``); ``--as AUTHORITY`` makes a
decision check that the objection or record belongs to that authority, as the API does for a registrar key.
Output is JSON, one object (or list) per command. Every command is audited by ``cli:<OS user>`` with the API's
action names (``objections.file``, ``repair.decide``, ``records.fulfil``, ...); a refusal is audited too. Exit 3:
the record, objection or request does not exist; 2: refused or bad input.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy import Connection

from .. import process
from ..registry import Conflict, NotFound, parse_instant
from ..timefmt import for_json
from .common import EXIT_NOT_FOUND, audit_cli, console, fail, open_catalogue, open_db, utcnow

__all__ = ["register"]

T = TypeVar("T")

objection_group = typer.Typer(help="Objections to records and their decisions.", no_args_is_help=True)
repair_group = typer.Typer(help="Credit repair requests (NDRC Order 36).", no_args_is_help=True)
expire_group = typer.Typer(help="Records that end by their date.", no_args_is_help=True)

Actor = Annotated[str, typer.Option("--actor", help="Who acts, for the event log.")]
As = Annotated[str | None, typer.Option("--as", help="Act as a registrar of this authority (checked).")]
At = Annotated[str | None, typer.Option("--at", help="The instant (ISO 8601; default now).")]


def _now(at: str | None) -> Any:
    if at is None:
        return utcnow()
    try:
        return parse_instant(at)
    except ValueError:
        fail(f"--at: {at!r}: not an ISO 8601 date or datetime")


def _filters(values: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in values.items() if v not in (None, False)}, sort_keys=True)


def _json(value: Any) -> Any:
    # str() of a datetime is "2026-12-02 13:04:05+00:00", not ISO 8601: JSON instants are (decision 0701).
    return for_json(value) if isinstance(value, dt.datetime) else str(value)


def _out(value: Any) -> None:
    console.print_json(json.dumps(value, ensure_ascii=False, default=_json))


def _why(exc: Exception) -> str:
    if isinstance(exc, process.NotAllowed):
        return "not allowed"
    return "invalid" if isinstance(exc, process.ProcessInvalid) else "conflict"


def _write(action: str, target: str, step: Callable[[Connection], T]) -> T:
    """Run ``step`` and its audit entry in one transaction; a domain error is audited as a refusal, after the
    rollback, and becomes a one-line reason (3: not found, 2: refused)."""
    db = open_db()
    try:
        with db.engine.begin() as conn:
            out = step(conn)
            audit_cli(conn, action, target, "ok")
            return out
    except (NotFound, LookupError) as exc:
        audit_cli(db.engine, action, target, "refused: not found")
        fail(str(exc).strip("'\""), EXIT_NOT_FOUND)
    except (process.ProcessInvalid, Conflict, process.NotAllowed) as exc:
        audit_cli(db.engine, action, target, f"refused: {_why(exc)}")
        fail(str(exc))


@objection_group.command("file")
def objection_file(
    record: Annotated[int, typer.Argument(help="The record id.")],
    grounds: Annotated[str, typer.Option(help="Why the record is wrong.")],
    counsel: Annotated[str | None, typer.Option(help="Counsel filing for the subject.")] = None,
    actor: Actor = "cli",
    at: At = None,
) -> None:
    """File an objection to RECORD (suspends measures where the category says so)."""
    cat, now = open_catalogue(), _now(at)
    _out(
        _write(
            "objections.file",
            f"record:{record}",
            lambda c: process.file_objection(c, cat, record, grounds, actor, now, counsel=counsel),
        )
    )


@objection_group.command("decide")
def objection_decide(
    objection: Annotated[int, typer.Argument(help="The objection id.")],
    outcome: Annotated[str, typer.Option(help="upheld or rejected.")],
    reason: Annotated[str, typer.Option(help="The reasons (required either way).")],
    revoke: Annotated[bool, typer.Option("--revoke", help="Upheld: revoke the record.")] = False,
    correct: Annotated[
        list[str] | None, typer.Option("--correct", help="Upheld: FIELD=VALUE to correct (repeatable).")
    ] = None,
    as_: As = None,
    actor: Actor = "cli",
    at: At = None,
) -> None:
    """Decide OBJECTION: upheld (--revoke or --correct FIELD=VALUE) or rejected, with reasons."""
    correction: dict[str, Any] | None = None
    if correct:
        correction = {}
        for item in correct:
            field, sep, value = item.partition("=")
            if not sep:
                fail(f"--correct: {item!r}: expected FIELD=VALUE")
            correction[field.strip()] = value
    now = _now(at)
    _out(
        _write(
            "objections.decide",
            f"objection:{objection}",
            lambda c: process.decide_objection(
                c,
                objection,
                outcome,  # type: ignore[arg-type]
                reason,
                actor,
                now,
                authority=as_,
                revoke=revoke,
                correction=correction,
            ),
        )
    )


@objection_group.command("reconsider")
def objection_reconsider(
    objection: Annotated[int, typer.Argument(help="The rejected objection's id.")],
    grounds: Annotated[str, typer.Option(help="Why the decision is wrong.")],
    counsel: Annotated[str | None, typer.Option(help="Counsel filing for the subject.")] = None,
    actor: Actor = "cli",
    at: At = None,
) -> None:
    """Ask the next-higher authority to reconsider a rejected OBJECTION."""
    cat, now = open_catalogue(), _now(at)
    _out(
        _write(
            "objections.reconsider",
            f"objection:{objection}",
            lambda c: process.request_reconsideration(
                c, cat, objection, grounds, actor, now, counsel=counsel
            ),
        )
    )


@objection_group.command("list")
def objection_list(
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only pending objections past their due date.")
    ] = False,
    status: Annotated[str | None, typer.Option(help="pending, upheld or rejected.")] = None,
    record: Annotated[int | None, typer.Option(help="Only objections to this record.")] = None,
    authority: Annotated[str | None, typer.Option(help="Only those this authority decides.")] = None,
    at: At = None,
) -> None:
    """List objections (each flagged overdue or not); exit 1 with --overdue if any is overdue."""
    if status is not None and status not in ("pending", "upheld", "rejected"):
        fail(f"--status: {status!r}: one of pending, upheld, rejected")
    now = _now(at)
    with open_db().engine.begin() as conn:
        rows = process.list_objections(
            conn, record_id=record, status=status, authority=authority, now=now, overdue=overdue
        )
        filters = {"status": status, "record": record, "authority": authority, "overdue": overdue}
        audit_cli(conn, "objections.list", _filters(filters), f"ok: {len(rows)} objections")
    _out(rows)
    if overdue and rows:
        raise typer.Exit(1)


@repair_group.command("request")
def repair_request(
    record: Annotated[int, typer.Argument(help="The record id.")],
    evidence: Annotated[str, typer.Option(help="How the conduct was corrected and obligations performed.")],
    commitment: Annotated[str, typer.Option(help="The public credit commitment.")],
    actor: Actor = "cli",
    at: At = None,
) -> None:
    """Ask for repair of RECORD (only after the category's minimum publication period)."""
    cat, now = open_catalogue(), _now(at)
    _out(
        _write(
            "repair.request",
            f"record:{record}",
            lambda c: process.request_repair(c, cat, record, evidence, commitment, actor, now),
        )
    )


@repair_group.command("decide")
def repair_decide(
    request: Annotated[int, typer.Argument(help="The repair request id.")],
    approve: Annotated[bool, typer.Option("--approve/--reject", help="Approve (lift now) or reject.")],
    reason: Annotated[str, typer.Option(help="The reasons.")],
    as_: As = None,
    actor: Actor = "cli",
    at: At = None,
) -> None:
    """Approve (the record is repaired: measures, publication and sharing end now) or reject REQUEST."""
    now = _now(at)
    _out(
        _write(
            "repair.decide",
            f"repair:{request}",
            lambda c: process.decide_repair(c, request, approve, reason, actor, now, authority=as_),
        )
    )


@repair_group.command("list")
def repair_list(
    status: Annotated[str | None, typer.Option(help="pending, approved or rejected.")] = None,
    record: Annotated[int | None, typer.Option(help="Only requests about this record.")] = None,
) -> None:
    """List repair requests."""
    if status is not None and status not in ("pending", "approved", "rejected"):
        fail(f"--status: {status!r}: one of pending, approved, rejected")
    with open_db().engine.begin() as conn:
        rows = process.list_repairs(conn, record_id=record, status=status)
        audit_cli(
            conn, "repair.list", _filters({"status": status, "record": record}), f"ok: {len(rows)} requests"
        )
    _out(rows)


def fulfil(
    record: Annotated[int, typer.Argument(help="The record id.")],
    reason: Annotated[str, typer.Option(help="How the obligation was performed.")],
    as_: As = None,
    actor: Actor = "cli",
    at: At = None,
) -> None:
    """The obligation is performed: RECORD (of a category that ends by fulfilment) ends now."""
    cat, now = open_catalogue(), _now(at)
    st = _write(
        "records.fulfil",
        f"record:{record}",
        lambda c: process.fulfil(c, cat, record, reason, actor, now, authority=as_),
    )
    _out({"record_id": st.id, "status": st.status, "ended_at": st.ended_at})


@expire_group.command("run")
def expire_run(at: At = None) -> None:
    """Append an "expired" event for each record whose end date has passed (idempotent)."""
    db, now = open_db(), _now(at)
    ids = process.expire_due(db.engine, now)
    # A sweep, not a read: one entry naming every record it ended, so an auditor searching a record finds it.
    if ids:
        targets = json.dumps([f"record:{i}" for i in ids])
        audit_cli(db.engine, "records.expire", targets, f"ok: {len(ids)} expired", now)
    _out({"expired": len(ids), "record_ids": ids})


def register(app: typer.Typer) -> None:
    app.add_typer(objection_group, name="objection")
    app.add_typer(repair_group, name="repair")
    app.add_typer(expire_group, name="expire")
    app.command("fulfil")(fulfil)
