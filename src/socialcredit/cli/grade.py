"""``socialcredit grade SUBJECT``: one explained grade; ``grade impact --model NEW.yaml``: a rule change's effect.

Exit 0 graded, 2 bad input or a refused grade (a person under a punitive model), 3 an unknown subject or model.
Each grade reads a subject's records and is audited as ``grades.single`` by ``cli:<OS user>``; an impact reads
every subject's records and is audited as ``grades.impact``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from ..grading import Grade, GradingRefused, UnknownModel, UnknownSubject, grade
from ..identifiers import IdentifierError
from ..timefmt import for_json, for_people
from .common import (
    EXIT_NOT_FOUND,
    allowlist,
    audit_cli,
    console,
    fail,
    open_catalogue,
    open_db,
    option_instant,
    utcnow,
)
from .helptext import _Group, _tidy

if TYPE_CHECKING:  # typer 0.29 carries its own click; these are its types
    from typer._click.core import Command, Context

__all__ = ["register"]


class _GradeGroup(_Group):
    """``grade SUBJECT ...`` grades; ``grade impact ...`` is the subcommand: a name that is no subcommand is a
    subject (no identifier is spelt like a subcommand)."""

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "", _subject_command(), args
        return super().resolve_command(ctx, args)


grade_app = typer.Typer(
    cls=_GradeGroup,
    help="Grade a subject: `grade SUBJECT [--model M] [--at T] [--known-at T] [--json]` (see `grade SUBJECT"
    " --help`); `grade impact --model NEW.yaml` shows a model change's effect before it is made.",
    no_args_is_help=True,
)
_subject_app = typer.Typer(add_completion=False)
_built: list[Command] = []


def _subject_command() -> Command:
    """``grade SUBJECT``'s command, built once and tidied like every other (--help reads as people expect)."""
    if not _built:
        command = typer.main.get_command(_subject_app)
        _tidy(command)
        _built.append(command)
    return _built[0]


def _show(g: Grade, known_at: dt.datetime) -> None:
    console.print(f"[bold]{g.grade}[/]  {g.subject}  {g.model} ({g.model_title})  score {g.score:g}")
    console.print(f"as of {for_people(g.as_of)}, as known at {for_people(known_at)}")
    console.print(f"start {g.start}")
    # One block per point, never a truncated table cell: the rule and its legal basis are the point of it.
    for p in g.points:
        console.print(
            f"record {p.record_id}  {p.category}  rule {p.rule}: {p.base} x decay {p.decay:g} = {p.points:g}"
            f"  ({p.status}; from {for_people(p.effective_from)}"
            f", until {for_people(p.valid_until, empty='fulfilled')})"
        )
        console.print(f"  legal basis: {p.legal_basis}")
    if not g.points:
        console.print("no record scores under this model")
    console.print("thresholds: " + ", ".join(f"{n} >= {m}" if m is not None else n for n, m in g.thresholds))
    for r in g.to_raise:
        console.print(
            f"to raise: record {r.record_id} {r.action} from {r.on.isoformat()} ({r.how}) -> {r.grade_after}"
        )
    console.print(f"catalogue {g.catalogue_version}", style="dim")


@_subject_app.command()
def grade_cmd(
    subject: Annotated[
        str, typer.Argument(help="Subject identifier: USCC (or a resident ID, for a reward-only model).")
    ],
    model: Annotated[
        str | None,
        typer.Option("--model", help="Model code from the catalogue (default: the subject kind's first)."),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="The instant graded (ISO date or datetime; default now).")
    ] = None,
    known_at: Annotated[
        str | None,
        typer.Option("--known-at", help="Grade with what the registry knew at this instant (default now)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the grade as one JSON object.")] = False,
) -> None:
    """Grade SUBJECT: exit 0 graded, 2 bad input or refused (a person, punitive model), 3 unknown."""
    now = utcnow()
    as_of = option_instant(at, "--at") or now
    known = option_instant(known_at, "--known-at")
    cat = open_catalogue()
    db = open_db()
    try:
        try:
            with db.engine.connect() as conn:
                g = grade(conn, cat, subject, model, as_of=as_of, known_at=known, allowlist=allowlist())
        except IdentifierError as exc:
            audit_cli(db.engine, "grades.single", subject, "refused: bad input")
            fail(f"subject: {exc}")
        except UnknownModel as exc:
            fail(f"--model: {exc.args[0]}", EXIT_NOT_FOUND)
        except GradingRefused as exc:
            audit_cli(db.engine, "grades.single", subject, "refused: person under a punitive model")
            fail(f"refused: {exc}")
        except UnknownSubject as exc:
            audit_cli(db.engine, "grades.single", subject, "not found")
            fail(str(exc.args[0]), EXIT_NOT_FOUND)
        audit_cli(db.engine, "grades.single", g.subject, f"graded {g.model}: {g.grade}")
    except SQLAlchemyError as exc:
        fail(f"database: {type(exc).__name__}: {str(exc).splitlines()[0]} (run `socialcredit init`?)")
    finally:
        db.engine.dispose()
    if as_json:
        out = g.to_dict()
        out["known_at"] = for_json(known or now)
        typer.echo(json.dumps(out, ensure_ascii=False))
    else:
        _show(g, known or now)


@grade_app.command("impact")
def impact_cmd(
    new: Annotated[Path, typer.Option("--model", help="The changed model: a YAML file, linted first.")],
    against: Annotated[
        str | None,
        typer.Option("--against", help="The model it replaces (default: the one of the same code)."),
    ] = None,
    at: Annotated[str | None, typer.Option("--at", help="The instant graded (default now).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the impact as one JSON object.")] = False,
) -> None:
    """Before a model changes: how many organisations would move between grades, and which rules move them."""
    from ..grading.impact import ModelFileError, impact, load_candidate, show

    as_of = option_instant(at, "--at") or utcnow()
    cat = open_catalogue()
    if not new.is_file():
        fail(f"--model: {new}: no such file", EXIT_NOT_FOUND)
    try:
        candidate = load_candidate(new, cat)
    except ModelFileError as exc:
        fail(str(exc))
    code = against or candidate.code
    old = cat.models.get(code)
    if old is None:
        known = ", ".join(sorted(cat.models))
        hint = "" if against else " (the file's code or name: name the model it replaces with --against)"
        fail(f"--against: unknown model {code!r}{hint} (known: {known})", EXIT_NOT_FOUND)
    if old.kind != candidate.kind:
        fail(f"--model: grades a {candidate.kind}, and {code!r} grades a {old.kind}")
    db = open_db()
    try:
        with db.engine.connect() as conn:
            result = impact(conn, cat, old, candidate, as_of)
        # Every subject's records were read, though only counts are shown: the read is on the record.
        audit_cli(db.engine, "grades.impact", code, f"{result.subjects} graded, {result.moved} would move")
    except SQLAlchemyError as exc:
        fail(f"database: {type(exc).__name__}: {str(exc).splitlines()[0]} (run `socialcredit init`?)")
    finally:
        db.engine.dispose()
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        show(result, console)


def register(app: typer.Typer) -> None:
    app.add_typer(grade_app, name="grade")
