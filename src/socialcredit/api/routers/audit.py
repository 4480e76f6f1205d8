"""The audit log over the API, for auditor keys: query entries and verify the hash chain.

An auditor's own queries are audited too (whoever reads the log is in it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from ... import audit
from ...audit import AuditEntry
from ..budget import masked_identifier
from ..deps import AuditorKey, StateDep, utcnow
from ..errors import responses
from ..inputs import MAX_ID, instant, plain_query
from ..schemas import AuditPage, VerifyOut

__all__ = ["router"]

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", response_model=AuditPage, responses=responses(401, 403, 422))
async def audit_entries(
    key: AuditorKey,
    state: StateDep,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="Entries after this sequence number.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    actor: Annotated[str | None, Query(max_length=64, description="A key id, `public` or `cli`.")] = None,
    action: Annotated[str | None, Query(max_length=64, examples=["checks.single"])] = None,
    target: Annotated[str | None, Query(max_length=64, description="Substring, e.g. a subject id.")] = None,
    since: Annotated[str | None, Query(max_length=40, description="ISO 8601 date or instant.")] = None,
    until: Annotated[str | None, Query(max_length=40, description="ISO 8601 date or instant.")] = None,
) -> Any:
    """Entries oldest first, filtered by actor, action, target substring and time."""
    for name, value in (("actor", actor), ("action", action), ("target", target)):
        plain_query(value, ["query", name])
    t0, t1 = instant(since, ["query", "since"]), instant(until, ["query", "until"])
    now = utcnow()
    # Public lookups name a person's identifier by its keyed hash (decision 0308): look for that too.
    looked_up = masked_identifier(target, state.settings.allowlisted_codes()) if target else None
    targets = [target, state.lookups.tag(looked_up)] if target and looked_up else target

    def work() -> list[dict[str, Any]]:
        with state.db.engine.begin() as conn:
            rows = list(
                audit.query(
                    conn,
                    after=after,
                    limit=limit,
                    actor=actor,
                    action=action,
                    target=targets,
                    since=t0,
                    until=t1,
                )
            )
            filters = {
                k: v
                for k, v in {
                    "after": after,
                    "actor": actor,
                    "action": action,
                    "target": target,
                    "since": since,
                    "until": until,
                }.items()
                if v
            }
            audit.append(
                conn,
                [AuditEntry(key.id, key.role, "audit.query", str(filters), f"ok: {len(rows)} entries")],
                now,
            )
        return rows

    rows = await run_in_threadpool(work)
    return {"entries": rows, "next_after": rows[-1]["seq"] if len(rows) == limit else None}


@router.get("/verify", response_model=VerifyOut, responses=responses(401, 403))
async def audit_verify(key: AuditorKey, state: StateDep) -> Any:
    """Walk the hash chain; name the first sequence number that does not hold."""

    def work() -> dict[str, Any]:
        with state.db.engine.connect() as conn:
            return audit.verify(conn).to_dict()

    return await run_in_threadpool(work)
