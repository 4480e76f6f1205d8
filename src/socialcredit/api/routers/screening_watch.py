"""Saved screenings over HTTP (issue 17 point 6, decision 0916): run one on what changed, read its last report.

A screening saved with ``socialcredit screen --save NAME --owner <key id>`` belongs to that key; another key
gets 404, as for a name that was never saved (no oracle). Views follow the screening's:

* **registrar**: the changed rows with the file's key columns and the matches;
* **checkpoint**: per changed row its number, statuses and, when the screening's action is within the key's
  scope, each match's answer (allowed, effects): nothing of the file, no subject, no record;
* **screener**: the rows were screened against public listings only; matches show masked identifiers.

Each run is audited in the run's own transaction (``screening.monitor``), a refused one too.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from starlette.concurrency import run_in_threadpool

from ...audit import AuditEntry
from ...catalogue import covers
from ...keys import ApiKey
from ...screening.monitor import RunConflict, last_report, run_watch
from ...screening.watch import get_watch
from ..deps import StateDep, XPurpose, purpose_for, require, utcnow
from ..errors import ConflictProblem, NotFoundProblem, responses

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["screening"])

WatchKey = Annotated[ApiKey, Depends(require("registrar", "checkpoint", "screener"))]
WatchName = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]


def _view(key: ApiKey, action: str | None, report: dict[str, Any]) -> dict[str, Any]:
    if key.role != "checkpoint":
        return report
    in_scope = action is not None and any(covers(p.removesuffix(".*"), action) for p in key.actions)
    rows = []
    for c in report["changes"]:
        row: dict[str, Any] = {k: c[k] for k in ("row", "previous_status", "status", "change")}
        if in_scope:
            row["action"] = action
            row["answers"] = [
                {"allowed": m["decision"]["allowed"], "effects": m["decision"]["effects"]}
                for m in c["matches"]
                if "decision" in m
            ]
        rows.append(row)
    return {"summary": report["summary"], "changes": rows}


async def _refused(state: Any, key: ApiKey, name: str, status: int, purpose: str | None) -> None:
    await state.audit.record(
        AuditEntry(key.id, key.role, "screening.monitor", f"screening:{name}", f"refused: {status}", purpose)
    )


@router.post("/screening-watchlists/{name}/runs", responses=responses(401, 403, 404, 409, 422))
async def run(name: WatchName, key: WatchKey, state: StateDep, x_purpose: XPurpose = None) -> Any:
    """Re-run the saved screening on what changed since its last run: only the rows whose result changed
    (``newly_hit``, ``newly_possible``, ``newly_clear``, ``decision_changed``), and how many were re-scored."""
    purpose = purpose_for(key, x_purpose)
    now: dt.datetime = utcnow()

    def job() -> tuple[str | None, dict[str, Any]]:
        with state.db.engine.connect() as conn:
            action = get_watch(conn, name, key.id)["action"]
        report = run_watch(
            state.db.engine,
            state.catalogue,
            name,
            key.id,
            now,
            actor=(key.id, key.role),
            purpose=purpose,
            checker=state.checker,
        )
        return action, report

    try:
        action, report = await run_in_threadpool(job)
    except LookupError as exc:
        await _refused(state, key, name, 404, purpose)
        raise NotFoundProblem(str(exc).strip("'\"")) from None
    except RunConflict as exc:
        await _refused(state, key, name, 409, purpose)
        raise ConflictProblem(str(exc)) from None
    return _view(key, action, report)


@router.get("/screening-watchlists/{name}/runs/last", responses=responses(401, 403, 404))
async def last(name: WatchName, key: WatchKey, state: StateDep, x_purpose: XPurpose = None) -> Any:
    """The report of the saved screening's last run (404 before its first run)."""
    purpose = purpose_for(key, x_purpose)

    def job() -> tuple[str | None, dict[str, Any] | None]:
        with state.db.engine.connect() as conn:
            action = get_watch(conn, name, key.id)["action"]
        return action, last_report(state.db.engine, name, key.id)

    try:
        action, report = await run_in_threadpool(job)
    except LookupError as exc:
        await _refused(state, key, name, 404, purpose)
        raise NotFoundProblem(str(exc).strip("'\"")) from None
    if report is None:
        await _refused(state, key, name, 404, purpose)
        raise NotFoundProblem(f"saved screening {name} has not run yet")
    out = _view(key, action, report)
    await state.audit.record(
        AuditEntry(
            key.id, key.role, "screening.report", f"screening:{name}", f"{len(out['changes'])} rows", purpose
        )
    )
    return out
