"""Due process over HTTP: objections and reconsideration, repair requests, fulfilment.

Who may do what: a **subject** key (the subject, or counsel holding a subject key for them) files objections,
reconsideration requests and repair requests for records about it (or reaching it as a linked person); a
**registrar** key of the authority an objection is addressed to decides it (the parent authority's registrar
decides a reconsideration); the filing authority's registrar decides repair requests and records fulfilment.
Each write, its registry events, their outbox rows and the audit entry commit in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from ... import audit, process
from ...audit import AuditEntry
from ...feed.errors import FeedInvalid
from ...feed.watchlists import WatchlistInvalid
from ...keys import ApiKey
from ...registry import Conflict, NotFound, load_state
from ..deps import AnyKey, RegistrarKey, StateDep, utcnow
from ..errors import ApiError, ConflictProblem, Forbidden, Invalid, NotFoundProblem, field_error, responses
from ..inputs import FreeText, PlainText
from ..state import AppState

__all__ = ["router", "translate"]

router = APIRouter(prefix="/v1", tags=["due process"])
T = TypeVar("T")

Id = Annotated[int, Path(ge=1, le=2**62, description="The id.", examples=[1])]


def translate(exc: Exception) -> Exception:
    """Due-process and feed errors as problems (the registry's own are mapped by the app)."""
    if isinstance(exc, process.ProcessInvalid | FeedInvalid):
        return Invalid(str(exc), [field_error(["body", exc.field], exc.value, exc.reason)])
    if isinstance(exc, WatchlistInvalid):
        return Invalid(
            str(exc), [field_error(["body", "subject_ids", n - 1], v, r) for n, v, r in exc.errors[:100]]
        )
    if isinstance(exc, process.NotAllowed):
        return Forbidden(str(exc))
    if isinstance(exc, NotFound | LookupError):
        return NotFoundProblem(str(exc).strip("'\""))
    if isinstance(exc, Conflict):
        return ConflictProblem(str(exc))
    return exc


def _actor(key: ApiKey) -> str:
    return key.id if key.id.startswith("user:") else f"api:{key.id}"  # a console user acts as itself (0607)


async def _write(
    state: AppState, key: ApiKey, action: str, target: str, step: Callable[[Connection, dt.datetime], T]
) -> T:
    """Run ``step`` in one transaction with its audit entry; refused attempts are audited too."""
    now = utcnow()

    def job() -> T:
        with state.db.engine.begin() as conn:
            out = step(conn, now)
            audit.append(conn, [AuditEntry(key.id, key.role, action, target, "ok")], now)
            return out

    try:
        result = await run_in_threadpool(job)
    except Exception as exc:
        err = translate(exc)
        status = err.status if isinstance(err, ApiError) else 500
        await state.audit.record(AuditEntry(key.id, key.role, action, target, f"refused: {status}"))
        if err is exc:
            raise
        raise err from None
    await state.refresh_now()
    return result


def _own_record(conn: Connection, key: ApiKey, record_id: int) -> None:
    """A subject key acts only on records about it; anything else reads as absent."""
    try:
        state = load_state(conn, record_id)
    except NotFound:
        raise NotFoundProblem(f"no record {record_id}") from None
    if key.subject is None or not process.may_act_for(state, key.subject):
        raise NotFoundProblem(f"no record {record_id} about this key's subject")


def _subject_key(key: ApiKey) -> None:
    if key.role != "subject":
        raise Forbidden("only a subject key (the subject or its counsel) files this")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ObjectionIn(_Body):
    grounds: FreeText = Field(min_length=1, max_length=10_000, description="Why the record is wrong.")
    counsel: PlainText | None = Field(
        default=None, max_length=300, description="Counsel filing for the subject."
    )


class DecisionIn(_Body):
    outcome: Literal["upheld", "rejected"]
    reason: FreeText = Field(min_length=1, max_length=10_000, description="The reasons, required either way.")
    revoke: bool = Field(default=False, description="Upheld: revoke the record.")
    correction: dict[PlainText, FreeText] | None = Field(
        default=None, description=f"Upheld: fields to correct, among {', '.join(process.CORRECTABLE)}."
    )


class RepairIn(_Body):
    evidence: FreeText = Field(
        min_length=1, max_length=10_000, description="Conduct corrected, obligations performed."
    )
    commitment: FreeText = Field(min_length=1, max_length=10_000, description="The public credit commitment.")


class RepairDecisionIn(_Body):
    approve: bool
    reason: FreeText = Field(min_length=1, max_length=10_000)


class FulfilIn(_Body):
    reason: FreeText = Field(min_length=1, max_length=10_000, description="How the obligation was performed.")


@router.post("/records/{record_id}/objections", status_code=201, responses=responses(401, 403, 404, 409, 422))
async def file_objection(record_id: Id, body: ObjectionIn, key: AnyKey, state: StateDep) -> Any:
    """Object to a record about this subject key's subject (counsel may use the subject's key)."""
    _subject_key(key)

    def step(conn: Connection, now: dt.datetime) -> dict[str, Any]:
        _own_record(conn, key, record_id)
        return process.file_objection(
            conn, state.catalogue, record_id, body.grounds, _actor(key), now, counsel=body.counsel
        )

    return await _write(state, key, "objections.file", f"record:{record_id}", step)


@router.post("/objections/{objection_id}/decision", responses=responses(401, 403, 404, 409, 422))
async def decide_objection(objection_id: Id, body: DecisionIn, key: RegistrarKey, state: StateDep) -> Any:
    """Decide an objection addressed to this key's authority: upheld (corrected or revoked) or rejected."""

    def step(conn: Connection, now: dt.datetime) -> dict[str, Any]:
        return process.decide_objection(
            conn,
            objection_id,
            body.outcome,
            body.reason,
            _actor(key),
            now,
            authority=key.authority or "",
            revoke=body.revoke,
            correction=body.correction,
        )

    return await _write(state, key, "objections.decide", f"objection:{objection_id}", step)


@router.post(
    "/objections/{objection_id}/reconsideration",
    status_code=201,
    responses=responses(401, 403, 404, 409, 422),
)
async def request_reconsideration(objection_id: Id, body: ObjectionIn, key: AnyKey, state: StateDep) -> Any:
    """Ask the next-higher authority to reconsider a rejected objection (where the category provides it)."""
    _subject_key(key)

    def step(conn: Connection, now: dt.datetime) -> dict[str, Any]:
        obj = process.get_objection(conn, objection_id)
        _own_record(conn, key, int(obj["record_id"]))
        return process.request_reconsideration(
            conn, state.catalogue, objection_id, body.grounds, _actor(key), now, counsel=body.counsel
        )

    return await _write(state, key, "objections.reconsider", f"objection:{objection_id}", step)


def _visible_objection(conn: Connection, key: ApiKey, obj: dict[str, Any]) -> bool:
    if key.role == "registrar":
        if obj["authority"] == key.authority:
            return True
        return load_state(conn, int(obj["record_id"])).authority == key.authority
    if key.role == "subject" and key.subject is not None:
        return process.may_act_for(load_state(conn, int(obj["record_id"])), key.subject)
    return False


def _parties_only(key: ApiKey, what: str) -> None:
    """Objections and repair requests hold grounds and evidence: personal data for the parties only (the
    subject, the deciding registrar). A checkpoint sees decisions; admin and auditor keys manage keys and
    verify the log (the audit log records every step without the text). Same answer for list and item."""
    if key.role not in ("registrar", "subject"):
        raise Forbidden(f"a {key.role} key may not read {what}: only the subject and the registrar may")


@router.get("/objections", responses=responses(401, 403, 422))
async def list_objections(
    key: AnyKey,
    state: StateDep,
    status: Annotated[Literal["pending", "upheld", "rejected"] | None, Query()] = None,
    overdue: Annotated[bool, Query(description="Only pending objections past their due date.")] = False,
    record_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Any:
    """Objections this key may see: a registrar's authority's (to decide), a subject's own."""
    _parties_only(key, "objections")
    now = utcnow()

    def job() -> list[dict[str, Any]]:
        with state.db.engine.connect() as conn:
            rows = process.list_objections(
                conn,
                record_id=record_id,
                status=status,
                subject=key.subject if key.role == "subject" else None,
                now=now,
                overdue=overdue,
            )
            return [o for o in rows if _visible_objection(conn, key, o)]

    return {"objections": await run_in_threadpool(job), "as_of": now.isoformat()}


@router.get("/objections/{objection_id}", responses=responses(401, 403, 404))
async def get_objection(objection_id: Id, key: AnyKey, state: StateDep) -> Any:
    _parties_only(key, "objections")

    def job() -> dict[str, Any]:
        with state.db.engine.connect() as conn:
            try:
                obj = process.get_objection(conn, objection_id)
            except NotFound:
                obj = None
            if obj is None or not _visible_objection(conn, key, obj):
                raise NotFoundProblem(f"no objection {objection_id}")
            return obj

    return await run_in_threadpool(job)


@router.post(
    "/records/{record_id}/repair-requests", status_code=201, responses=responses(401, 403, 404, 409, 422)
)
async def request_repair(record_id: Id, body: RepairIn, key: AnyKey, state: StateDep) -> Any:
    """Ask for credit repair (NDRC Order 36) once the minimum publication period has passed."""
    _subject_key(key)

    def step(conn: Connection, now: dt.datetime) -> dict[str, Any]:
        _own_record(conn, key, record_id)
        return process.request_repair(
            conn, state.catalogue, record_id, body.evidence, body.commitment, _actor(key), now
        )

    return await _write(state, key, "repair.request", f"record:{record_id}", step)


@router.post("/repair-requests/{request_id}/decision", responses=responses(401, 403, 404, 409, 422))
async def decide_repair(request_id: Id, body: RepairDecisionIn, key: RegistrarKey, state: StateDep) -> Any:
    """Approve (measures, publication and sharing end at once) or reject, with reasons."""

    def step(conn: Connection, now: dt.datetime) -> dict[str, Any]:
        return process.decide_repair(
            conn, request_id, body.approve, body.reason, _actor(key), now, authority=key.authority or ""
        )

    return await _write(state, key, "repair.decide", f"repair:{request_id}", step)


@router.get("/repair-requests", responses=responses(401, 403, 422))
async def list_repairs(
    key: AnyKey,
    state: StateDep,
    status: Annotated[Literal["pending", "approved", "rejected"] | None, Query()] = None,
) -> Any:
    """Repair requests about this key's records: a registrar's authority's, a subject's own."""
    _parties_only(key, "repair requests")

    def job() -> list[dict[str, Any]]:
        with state.db.engine.connect() as conn:
            out = []
            for r in process.list_repairs(conn, status=status, limit=10_000, now=utcnow()):
                st = load_state(conn, int(r["record_id"]))
                if key.role == "registrar" and st.authority != key.authority:
                    continue
                if key.role == "subject" and not (key.subject and process.may_act_for(st, key.subject)):
                    continue
                out.append(r)
            return out

    return {"repair_requests": await run_in_threadpool(job)}


@router.post("/records/{record_id}/fulfil", responses=responses(401, 403, 404, 409, 422))
async def fulfil(record_id: Id, body: FulfilIn, key: RegistrarKey, state: StateDep) -> Any:
    """The obligation is performed: a listing that ends by fulfilment ends now (the filing authority only)."""

    def step(conn: Connection, now: dt.datetime) -> dict[str, Any]:
        st = process.fulfil(
            conn, state.catalogue, record_id, body.reason, _actor(key), now, authority=key.authority or ""
        )
        return {
            "record_id": st.id,
            "status": st.status,
            "ended_at": st.ended_at.isoformat() if st.ended_at else None,
        }

    return await _write(state, key, "records.fulfil", f"record:{record_id}", step)
