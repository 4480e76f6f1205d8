"""``socialcredit supervision plan | list``: random-inspection plans (双随机、一公开) by risk class.

``show`` prints or re-exports a stored plan (audited as ``supervision.show``; exit 3 for no such plan).
``plan`` exits 0 with the plan stored, written and audited (``supervision.plan``), 2 for bad input (a bad
inspectors' file, region, year or seed, too few inspectors without a conflict), 3 for an authority without a
policy or an inspectors' file that is not there (decision 0700). Nothing is stored unless the CSV is written.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from ..registry.state import local_date
from ..timefmt import for_json, for_people
from .common import (
    CLI_ROLE,
    EXIT_NOT_FOUND,
    allowlist,
    audit_cli,
    cli_actor,
    console,
    fail,
    open_catalogue,
    open_db,
    option_instant,
    utcnow,
)

if TYPE_CHECKING:
    from ..supervision.store import StoredPlan

__all__ = ["register"]

group = typer.Typer(
    help="Tiered supervision: random-inspection plans whose sampling rate follows the risk class.",
    no_args_is_help=True,
)


@group.command("plan")
def plan_cmd(
    authority: Annotated[
        str, typer.Option("--authority", help="The inspecting authority's code (e.g. samr).")
    ],
    inspectors: Annotated[
        Path, typer.Option("--inspectors", help="CSV of the inspectors: id,name,authority,conflicts.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the plan as CSV.")],
    region: Annotated[
        str | None,
        typer.Option("--region", help="Only firms of this division code (2, 4 or 6 digits, e.g. 1101)."),
    ] = None,
    year: Annotated[int | None, typer.Option("--year", help="The plan's year (default: this year).")] = None,
    seed: Annotated[
        str | None,
        typer.Option("--seed", help="The draw's seed: the same seed draws the same plan (default: random)."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Grade the firms as of this instant (ISO date or datetime; default now)."),
    ] = None,
) -> None:
    """Draw firms by risk class, then their inspectors, from a seed; write, store and audit the plan."""
    from ..supervision.inspectors import InspectorsError, read_inspectors
    from ..supervision.plan import NoPolicy, PlanRefused, check_region, check_seed, draw
    from ..supervision.store import save_plan

    now = utcnow()
    as_of = option_instant(at, "--at") or now
    cat = open_catalogue()
    if authority not in cat.supervision:
        fail(f"--authority: {NoPolicy(authority, sorted(cat.supervision))}", EXIT_NOT_FOUND)
    given = seed is not None
    seed = seed if seed is not None else secrets.token_hex(8)
    try:
        check_seed(seed)
        check_region(region)
    except PlanRefused as exc:
        fail(str(exc))
    the_year = year if year is not None else local_date(now).year
    if not 2000 <= the_year <= 2100:
        fail(f"--year: {the_year}: a year from 2000 to 2100")
    if not out.parent.is_dir():
        fail(f"--out: {out}: no such directory {out.parent}")
    try:
        team, digest = read_inspectors(inspectors, authority, allowlist())
    except FileNotFoundError:
        fail(f"--inspectors: {inspectors}: no such file", EXIT_NOT_FOUND)
    except IsADirectoryError:
        fail(f"--inspectors: {inspectors}: a directory, not a file")
    except OSError as exc:
        fail(f"--inspectors: {inspectors}: cannot read ({exc.strerror})")
    except InspectorsError as exc:
        fail(f"--inspectors: {exc}")
    db = open_db()
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    try:
        with db.engine.connect() as conn:  # reading only: bulk grading leaves yield_per set on it
            plan = draw(conn, cat, authority, team, digest, seed, the_year, as_of, region)
        with db.engine.begin() as conn:
            pid = save_plan(conn, plan, cli_actor(), CLI_ROLE, now)
            try:
                tmp.write_text(plan.to_csv(), encoding="utf-8")
                os.replace(tmp, out)
            except OSError as exc:
                fail(f"--out: {out}: cannot write ({exc.strerror}); nothing was stored")
    except (PlanRefused, NoPolicy) as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"database: {type(exc).__name__}: {str(exc).splitlines()[0]} (run `socialcredit init`?)")
    finally:
        tmp.unlink(missing_ok=True)
        db.engine.dispose()
    console.print(
        f"plan {pid}: {authority} {the_year}{' region ' + region if region else ''}, graded by {plan.model} "
        f"as of {for_people(as_of)}"
    )
    for c in plan.counts:
        console.print(f"  class {c.risk_class}: {c.drawn} of {c.firms} firms drawn (rate {c.rate:g})")
    console.print(
        f"{len(plan.rows)} inspections, {plan.inspectors} inspectors of {authority}; written to {out}"
    )
    if not given:
        console.print(f"seed {seed} (none given: pass --seed {seed} to draw this plan again)")


def _summary(p: StoredPlan) -> dict[str, Any]:
    return {
        "id": p.id,
        "authority": p.authority,
        "region": p.region,
        "year": p.year,
        "seed": p.seed,
        "as_of": for_json(p.as_of),
        "model": p.model,
        "catalogue_version": p.catalogue_version,
        "inspectors_digest": p.inspectors_digest,
        "counts": p.counts,
        "drawn": p.drawn,
        "created_at": for_json(p.created_at),
        "actor": p.actor,
    }


@group.command("list")
def list_cmd(
    authority: Annotated[str | None, typer.Option("--authority", help="Only this authority's plans.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plans as JSON Lines.")] = False,
) -> None:
    """The plans drawn, newest first (the 200 newest)."""
    from ..supervision.store import list_plans

    cat = open_catalogue()
    if authority is not None and authority not in cat.authorities:
        fail(f"--authority: unknown authority {authority!r}", EXIT_NOT_FOUND)
    db = open_db()
    try:
        with db.engine.connect() as conn:
            plans = list_plans(conn, authority)
    except SQLAlchemyError as exc:
        fail(f"database: {type(exc).__name__}: {str(exc).splitlines()[0]} (run `socialcredit init`?)")
    finally:
        db.engine.dispose()
    if as_json:
        for p in plans:
            typer.echo(json.dumps(_summary(p), ensure_ascii=False))
        return
    if not plans:
        console.print("no plans")
        return
    table = Table("id", "authority", "year", "region", "seed", "drawn", "by class", "created")
    for p in plans:
        by_class = " ".join(f"{c['class']} {c['drawn']}/{c['firms']}" for c in p.counts)
        table.add_row(
            str(p.id),
            p.authority,
            str(p.year),
            p.region or "all",
            p.seed,
            str(p.drawn),
            by_class,
            for_people(p.created_at),
        )
    console.print(table)


@group.command("show")
def show_cmd(
    plan_id: Annotated[int, typer.Argument(help="The plan's number (see `supervision list`).", min=1)],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the plan's rows as CSV here, as `plan` wrote them.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as one JSON object.")] = False,
) -> None:
    """One stored plan: its seed, counts and rows (audited: it names the inspectors)."""
    from ..supervision.plan import rows_csv
    from ..supervision.store import get_plan

    if out is not None and not out.parent.is_dir():
        fail(f"--out: {out}: no such directory {out.parent}")
    db = open_db()
    now = utcnow()
    try:
        with db.engine.connect() as conn:
            found = get_plan(conn, plan_id) if plan_id < 2**62 else None
        if found is None:
            audit_cli(db.engine, "supervision.show", f"plan:{plan_id}", "not found", now)
            fail(f"no plan {plan_id}", EXIT_NOT_FOUND)
        rows = found.rows or []
        audit_cli(db.engine, "supervision.show", f"plan:{plan_id}", f"ok: {len(rows)} rows", now)
    except SQLAlchemyError as exc:
        fail(f"database: {type(exc).__name__}: {str(exc).splitlines()[0]} (run `socialcredit init`?)")
    finally:
        db.engine.dispose()
    if out is not None:
        try:
            out.write_text(rows_csv(rows), encoding="utf-8")
        except OSError as exc:
            fail(f"--out: {out}: cannot write ({exc.strerror})")
    if as_json:
        d = _summary(found)
        d["rows"] = rows
        typer.echo(json.dumps(d, ensure_ascii=False))
        return
    region = f" region {found.region}" if found.region else ""
    console.print(
        f"plan {found.id}: {found.authority} {found.year}{region}, seed {found.seed}, graded by {found.model} "
        f"as of {for_people(found.as_of)}"
    )
    console.print(f"inspectors' list sha256 {found.inspectors_digest}; drawn {for_people(found.created_at)}")
    for c in found.counts:
        console.print(f"  class {c['class']}: {c['drawn']} of {c['firms']} firms drawn (rate {c['rate']:g})")
    if out is None:
        for r in rows:
            team = ", ".join(f"{i['name']} ({i['id']})" for i in r["inspectors"])
            console.print(f"{r['firm']}  {r['class']}  {r['name']}  {team}", markup=False)
    else:
        console.print(f"{len(rows)} inspections written to {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="supervision")
