"""Saved screenings over HTTP (issue 17 point 6, decision 0916): run one on what changed, read its last report.

A screening saved with ``socialcredit screen --save NAME --owner <key id>`` belongs to that key; another key
gets 404, as for a name that was never saved (no oracle). Views follow the screening's:

* **registrar**: the changed rows with the file's key columns and the matches; reasons from its own
  authority's records whole, others' in the checkpoint form (no record id, category or linked subject);
* **checkpoint**: the rows whose answer for the screening's action (within the key's scope) changed, each
  with its number and the answer before and now: nothing of the file, no subject, no record;
* **screener**: the rows were screened against public listings only; matches show masked identifiers.

Each run is audited in the run's own transaction (``screening.monitor``), a refused one too.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from sqlalchemy import Connection, select
from starlette.concurrency import run_in_threadpool

from ...audit import AuditEntry
from ...catalogue import covers
from ...keys import ApiKey
from ...screening.monitor import RunConflict, last_report, run_watch
from ...screening.watch import get_watch
from ...store.tables import records
from ..deps import StateDep, XPurpose, purpose_for, require, utcnow
from ..errors import ConflictProblem, NotFoundProblem, responses

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["screening"])

WatchKey = Annotated[ApiKey, Depends(require("registrar", "checkpoint", "screener"))]
WatchName = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]


def _answer(answers: list[list[Any]]) -> tuple[bool, list[str]]:
    """A row's answer for the action: allowed unless a match is denied, and the effects of all its matches."""
    return all(bool(a[0]) for a in answers), sorted({e for a in answers for e in a[1]})


def _checkpoint(key: ApiKey, action: str | None, report: dict[str, Any]) -> dict[str, Any]:
    """Per row whose answer for the key's action changed: its number and the answer before and now. Nothing
    of the file, of the subjects or of the records; nothing at all when the action is outside the key's scope
    (a listing that changes none of its answers is none of its business: decision 0310)."""
    in_scope = action is not None and any(covers(p.removesuffix(".*"), action) for p in key.actions)
    rows = []
    for c in report["changes"] if in_scope else []:
        before, now = _answer(c["answers_before"]), _answer(c["answers"])
        if before != now:
            rows.append(
                {
                    "row": c["row"],
                    "action": action,
                    "allowed_before": before[0],
                    "allowed": now[0],
                    "effects": now[1],
                }
            )
    s = report["summary"]
    summary = {k: s[k] for k in ("screening", "at", "previous_at", "rows", "rescored")} | {
        "changed": len(rows)
    }
    return {"summary": summary, "changes": rows}


_CHECKPOINT_FORM = ("memorandum", "measure", "department", "effect", "legal_basis", "valid_until")


def _registrar(conn: Connection, authority: str | None, report: dict[str, Any]) -> dict[str, Any]:
    """Reasons of the key's authority's records whole, others' in the checkpoint form (decision 0310)."""
    ids = {
        int(r["record_id"])
        for c in report["changes"]
        for m in c["matches"]
        for r in [*m["reasons"], *(m.get("decision") or {}).get("reasons", [])]
        if r.get("record_id") is not None
    }
    mine: set[int] = set()
    for part in [sorted(ids)[i : i + 900] for i in range(0, len(ids), 900)]:
        q = select(records.c.id).where(records.c.id.in_(part), records.c.authority == authority)
        mine.update(int(i) for i in conn.execute(q).scalars())

    def reason(r: dict[str, Any]) -> dict[str, Any]:
        return r if r.get("record_id") in mine else {k: r[k] for k in _CHECKPOINT_FORM if k in r}

    def match(m: dict[str, Any]) -> dict[str, Any]:
        out = {**m, "reasons": [reason(r) for r in m["reasons"]]}
        d = m.get("decision")
        if d is not None:
            rs = [reason(r) for r in d["reasons"]]
            notes = d["notes"] if all(r.get("record_id") in mine for r in d["reasons"]) else []
            out["decision"] = {**d, "reasons": rs, "notes": notes}
        return out

    changes = [{**c, "matches": [match(m) for m in c["matches"]]} for c in report["changes"]]
    return {"summary": report["summary"], "changes": changes}


def _view(conn: Connection, key: ApiKey, action: str | None, report: dict[str, Any]) -> dict[str, Any]:
    if key.role == "checkpoint":
        return _checkpoint(key, action, report)
    if key.role == "registrar":
        return _registrar(conn, key.authority, report)
    return report  # a screener's: screened against public listings, identifiers masked (monitor.py)


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

    def job() -> dict[str, Any]:
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
        with state.db.engine.connect() as conn:
            return _view(conn, key, action, report)

    try:
        return await run_in_threadpool(job)
    except LookupError as exc:
        await _refused(state, key, name, 404, purpose)
        raise NotFoundProblem(str(exc).strip("'\"")) from None
    except RunConflict as exc:
        await _refused(state, key, name, 409, purpose)
        raise ConflictProblem(str(exc)) from None


@router.get("/screening-watchlists/{name}/runs/last", responses=responses(401, 403, 404))
async def last(name: WatchName, key: WatchKey, state: StateDep, x_purpose: XPurpose = None) -> Any:
    """The report of the saved screening's last run (404 before its first run)."""
    purpose = purpose_for(key, x_purpose)

    def job() -> dict[str, Any] | None:
        with state.db.engine.connect() as conn:
            action = get_watch(conn, name, key.id)["action"]
            report = last_report(conn, name, key.id)
            return None if report is None else _view(conn, key, action, report)

    try:
        out = await run_in_threadpool(job)
    except LookupError as exc:
        await _refused(state, key, name, 404, purpose)
        raise NotFoundProblem(str(exc).strip("'\"")) from None
    if out is None:
        await _refused(state, key, name, 404, purpose)
        raise NotFoundProblem(f"saved screening {name} has not run yet")
    await state.audit.record(
        AuditEntry(
            key.id, key.role, "screening.report", f"screening:{name}", f"{len(out['changes'])} rows", purpose
        )
    )
    return out
