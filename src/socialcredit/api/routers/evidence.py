"""Evidence attached to objections and repair requests: listed with its digest, fetched by the parties only.

Evidence is personal data of the parties to one step: the subject (a subject key that may act for the record)
and the registrar handling it (an objection's addressed authority; for a repair request, the record's filing
authority). Checkpoints, auditors and admins get 403; anyone else's subject key, or a registrar of another
authority, gets 404 as if the evidence did not exist. Every read is audited (``evidence.list``,
``evidence.read``). Files are uploaded with an objection or repair request on the portal (decision 0615).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from ... import audit, process
from ...audit import AuditEntry
from ...keys import ApiKey
from ...registry import NotFound, load_state
from ...selfservice import MEDIA_TYPES, evidence_for, get_evidence
from ..deps import AnyKey, StateDep, XPurpose, purpose_for, utcnow
from ..errors import Forbidden, Invalid, NotFoundProblem, field_error, responses

__all__ = ["may_read", "router"]

router = APIRouter(prefix="/v1/evidence", tags=["due process"])

Id = Annotated[int, Path(ge=1, le=2**62, description="The evidence file's id.", examples=[1])]


def _parties_only(key: ApiKey) -> None:
    if key.role not in ("registrar", "subject"):
        raise Forbidden(f"a {key.role} key may not read evidence: only the subject and the registrar may")


def may_read(conn: Connection, key: ApiKey, item: dict[str, Any]) -> bool:
    """Whether ``key`` is a party to the step the evidence belongs to."""
    try:
        state = load_state(conn, int(item["record_id"]))
    except NotFound:
        return False
    if key.role == "subject":
        return key.subject is not None and process.may_act_for(state, key.subject)
    if key.role != "registrar":
        return False
    if item["objection_id"] is not None:
        try:
            return bool(process.get_objection(conn, int(item["objection_id"]))["authority"] == key.authority)
        except NotFound:
            return False
    return state.authority == key.authority


@router.get("", responses=responses(401, 403, 422))
async def list_evidence(
    key: AnyKey,
    state: StateDep,
    objection_id: Annotated[int | None, Query(ge=1, le=2**62, description="An objection's files.")] = None,
    repair_id: Annotated[int | None, Query(ge=1, le=2**62, description="A repair request's files.")] = None,
    x_purpose: XPurpose = None,
) -> Any:
    """The files (name, type, size, SHA-256) of one objection or repair request this key is a party to."""
    _parties_only(key)
    purpose = purpose_for(key, x_purpose)
    if (objection_id is None) == (repair_id is None):
        raise Invalid(
            "give exactly one of objection_id and repair_id",
            [
                field_error(
                    ["query", "objection_id"], objection_id, "give exactly one of objection_id, repair_id"
                )
            ],
        )
    target = f"objection:{objection_id}" if objection_id is not None else f"repair:{repair_id}"

    def job() -> list[dict[str, Any]]:
        with state.db.engine.begin() as conn:
            items = evidence_for(
                conn,
                objection_ids=[objection_id] if objection_id is not None else None,
                repair_ids=[repair_id] if repair_id is not None else None,
            )
            shown = [i for i in items if may_read(conn, key, i)]
            audit.append(
                conn,
                [AuditEntry(key.id, key.role, "evidence.list", target, f"ok: {len(shown)} files", purpose)],
                utcnow(),
            )
            return shown

    return {"evidence": await run_in_threadpool(job)}


@router.get(
    "/{evidence_id}",
    response_class=Response,
    responses={**responses(401, 403, 404), 200: {"content": {t: {} for t in MEDIA_TYPES}}},
)
async def read_evidence(
    evidence_id: Id, key: AnyKey, state: StateDep, x_purpose: XPurpose = None
) -> Response:
    """The file itself, with its SHA-256 in ``X-Content-SHA256`` (as listed when it was uploaded)."""
    _parties_only(key)
    purpose = purpose_for(key, x_purpose)

    def job() -> tuple[dict[str, Any], bytes] | None:
        with state.db.engine.begin() as conn:
            found = get_evidence(conn, evidence_id)
            ok = found is not None and may_read(conn, key, found[0])
            audit.append(
                conn,
                [
                    AuditEntry(
                        key.id,
                        key.role,
                        "evidence.read",
                        f"evidence:{evidence_id}",
                        "ok" if ok else "refused: 404",
                        purpose,
                    )
                ],
                utcnow(),
            )
            return found if ok else None

    found = await run_in_threadpool(job)
    if found is None:
        raise NotFoundProblem(f"no evidence {evidence_id} visible to this key")
    meta, content = found
    return Response(
        content,
        media_type=meta["media_type"],
        headers={
            "X-Content-SHA256": meta["sha256"],
            "Content-Disposition": f'attachment; filename="evidence-{meta["id"]}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
