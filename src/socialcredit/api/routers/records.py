"""Records: registrars file, amend and revoke; registrars and subjects read.

Every write runs in one transaction on one connection: the registry event, its outbox row, and the audit entry
commit together or not at all. A read appends its audit entry in the transaction that read the record.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from starlette.concurrency import run_in_threadpool

from ... import audit
from ...audit import AuditEntry
from ...keys import ApiKey
from ...registry import NotFound, RecordState, check_row, file_batch, load_state, revoke
from ..deps import ReaderKey, RegistrarKey, StateDep, XPurpose, purpose_for, utcnow
from ..errors import DOMAIN_ERRORS, ApiError, Forbidden, NotFoundProblem, responses
from ..inputs import MAX_ID
from ..schemas import RecordAmend, RecordCreate, RecordOut, RecordWritten, RevokeBody
from ..state import AppState
from ..views import record_out, record_visible, row_of

__all__ = ["RecordId", "refuse", "router"]

router = APIRouter(prefix="/v1/records", tags=["records"])

RecordId = Annotated[int, Path(ge=1, le=MAX_ID, description="The record's id.", examples=[1])]


def actor(key: ApiKey) -> str:
    return key.id if key.id.startswith("user:") else f"api:{key.id}"  # a console user acts as itself (0607)


async def refuse(
    state: AppState, key: ApiKey, action: str, target: str, purpose: str | None, exc: Exception
) -> None:
    """Append an audit entry for a refused request (403, 404, 409, 422): attempts are part of the record."""
    if isinstance(exc, ApiError):
        status = exc.status
    else:
        status = next((DOMAIN_ERRORS[c](exc).status for c in type(exc).__mro__ if c in DOMAIN_ERRORS), 500)
    await state.audit.record(AuditEntry(key.id, key.role, action, target, f"refused: {status}", purpose))


def _authorise_filing(key: ApiKey, state: AppState, authority: str, category: str) -> None:
    if authority != key.authority:
        raise Forbidden(f"this key files for authority {key.authority!r}, not {authority!r}")
    if category in state.catalogue.categories and not state.catalogue.can_file(authority, category):
        raise Forbidden(f"authority {authority!r} may not file category {category!r}")


def _write(
    state: AppState,
    key: ApiKey,
    row: dict[str, Any],
    now: dt.datetime,
    action: str,
    record_id: int | None = None,
) -> tuple[RecordState, str]:
    allow = state.settings.allowlisted_codes()
    with state.db.engine.begin() as conn:
        if record_id is not None:  # an amendment: the current record, changed by the body
            current = load_state(conn, record_id)
            if not record_visible(key, current):
                raise NotFoundProblem(f"no record {record_id} filed by authority {key.authority!r}")
            row = {k: v for k, v in {**row_of(current), **row}.items() if v is not None}
        filing = check_row(row, state.catalogue, now, allow)
        (outcome,) = file_batch(conn, [filing], state.catalogue, actor(key), now)
        st = load_state(conn, outcome.record_id)
        audit.append(
            conn,
            [AuditEntry(key.id, key.role, action, f"record:{st.id} subject:{st.subject_id}", outcome.action)],
            now,
        )
    return st, outcome.action


@router.post(
    "",
    status_code=201,
    response_model=RecordWritten,
    responses={
        200: {"model": RecordWritten, "description": "Amended or unchanged (same key)"},
        **responses(401, 403, 409, 413, 422),
    },
)
async def file_record(body: RecordCreate, key: RegistrarKey, state: StateDep, response: Response) -> Any:
    """File one record (an import row); the same authority and external_id again amends it."""
    target = f"external:{body.authority}/{body.external_id}"
    now = utcnow()
    try:
        _authorise_filing(key, state, body.authority, body.category)
        st, outcome = await run_in_threadpool(
            _write, state, key, body.model_dump(exclude_none=True), now, "records.file"
        )
    except Exception as exc:
        await refuse(state, key, "records.file", target, None, exc)
        raise
    await state.refresh_now()
    response.status_code = 201 if outcome == "filed" else 200
    return {**record_out(st, now), "outcome": outcome}


@router.post(
    "/{record_id}/amend", response_model=RecordWritten, responses=responses(401, 403, 404, 409, 413, 422)
)
async def amend_record(record_id: RecordId, body: RecordAmend, key: RegistrarKey, state: StateDep) -> Any:
    """Change some fields of a record filed by this key's authority (a new event; history stays)."""
    now = utcnow()
    try:
        st, outcome = await run_in_threadpool(
            _write, state, key, body.model_dump(exclude_unset=True), now, "records.amend", record_id
        )
    except NotFound as exc:
        await refuse(state, key, "records.amend", f"record:{record_id}", None, exc)
        raise NotFoundProblem(f"no record {record_id}") from None
    except Exception as exc:
        await refuse(state, key, "records.amend", f"record:{record_id}", None, exc)
        raise
    await state.refresh_now()
    return {**record_out(st, now), "outcome": outcome}


@router.post(
    "/{record_id}/revoke", response_model=RecordWritten, responses=responses(401, 403, 404, 409, 413, 422)
)
async def revoke_record(record_id: RecordId, body: RevokeBody, key: RegistrarKey, state: StateDep) -> Any:
    """Revoke a record filed by this key's authority: its measures stop applying now."""
    now = utcnow()

    def work() -> RecordState:
        with state.db.engine.begin() as conn:
            if not record_visible(key, load_state(conn, record_id)):
                raise NotFoundProblem(f"no record {record_id} filed by authority {key.authority!r}")
            st, _ = revoke(conn, record_id, body.reason, actor(key), now)
            audit.append(
                conn,
                [
                    AuditEntry(
                        key.id,
                        key.role,
                        "records.revoke",
                        f"record:{st.id} subject:{st.subject_id}",
                        "revoked",
                    )
                ],
                now,
            )
        return st

    try:
        st = await run_in_threadpool(work)
    except NotFound as exc:
        await refuse(state, key, "records.revoke", f"record:{record_id}", None, exc)
        raise NotFoundProblem(f"no record {record_id}") from None
    except Exception as exc:
        await refuse(state, key, "records.revoke", f"record:{record_id}", None, exc)
        raise
    await state.refresh_now()
    return {**record_out(st, now), "outcome": "revoked"}


@router.get("/{record_id}", response_model=RecordOut, responses=responses(401, 403, 404, 422))
async def get_record(record_id: RecordId, key: ReaderKey, state: StateDep, x_purpose: XPurpose = None) -> Any:
    """One record: a registrar reads its own authority's, a subject the records about it. Audited."""
    purpose = purpose_for(key, x_purpose)
    now = utcnow()

    def work() -> RecordState | None:
        with state.db.engine.begin() as conn:
            try:
                st: RecordState | None = load_state(conn, record_id)
            except NotFound:
                st = None
            shown = st is not None and record_visible(key, st)
            audit.append(
                conn,
                [
                    AuditEntry(
                        key.id,
                        key.role,
                        "records.read",
                        f"record:{record_id}",
                        "ok" if shown else "refused: 404",
                        purpose,
                    )
                ],
                now,
            )
        return st if shown else None

    st = await run_in_threadpool(work)
    if st is None:
        raise NotFoundProblem(f"no record {record_id} visible to this key")
    return record_out(st, now)
