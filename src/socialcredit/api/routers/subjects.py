"""Subjects: one view per role. A subject key reads its own file whole, with the keys issued to it; a
registrar reads the subject and the records its own authority filed. Checkpoints, auditors and admins have no
view of a subject (they get 403)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ... import audit
from ...audit import AuditEntry
from ...identifiers import IdentifierError, parse
from ...keys import ApiKey, issued_keys
from ...registry import RecordState, states_for_subject
from ...store.tables import subjects
from ..deps import ReaderKey, StateDep, XPurpose, purpose_for, utcnow
from ..errors import Forbidden, Invalid, NotFoundProblem, field_error, responses
from ..schemas import RecordOut, SubjectOut
from ..state import AppState
from ..views import record_out, record_visible

__all__ = ["router"]

router = APIRouter(prefix="/v1/subjects", tags=["subjects"])

SubjectPath = Annotated[
    str,
    Path(
        max_length=64,
        description="Resident ID, USCC or passport:ISO3:NUMBER.",
        examples=["110105198001010115"],
    ),
]


def _load(
    state: AppState, key: ApiKey, raw: str, purpose: str | None, action: str
) -> tuple[dict[str, Any], list[RecordState]]:
    try:
        sid = parse(raw, state.settings.allowlisted_codes()).canonical
    except IdentifierError as exc:
        raise Invalid(str(exc), [field_error(["path", "subject_id"], raw, exc.reason)]) from None
    if key.role == "subject" and sid != key.subject:
        raise Forbidden("a subject key reads only its own file")
    now = utcnow()
    with state.db.engine.begin() as conn:
        row = conn.execute(select(subjects).where(subjects.c.id == sid)).mappings().first()
        # The subject sees every key that opens its file: an admin can issue one for anyone.
        keys = issued_keys(conn, sid, now) if key.role == "subject" and row is not None else None
        states = [s for s in states_for_subject(conn, sid) if record_visible(key, s)] if row else []
        # A registrar learns nothing about a subject it has filed nothing on: not even that it exists.
        shown = row is not None and (key.role == "subject" or bool(states))
        audit.append(
            conn,
            [
                AuditEntry(
                    key.id,
                    key.role,
                    action,
                    f"subject:{sid}",
                    f"ok: {len(states)} records" if shown else "refused: 404",
                    purpose,
                )
            ],
            now,
        )
    if not shown or row is None:
        raise NotFoundProblem(f"no subject {sid} visible to this key")
    return {**row, "keys": keys}, states


@router.get("/{subject_id}", response_model=SubjectOut, responses=responses(401, 403, 404, 422))
async def get_subject(
    subject_id: SubjectPath, key: ReaderKey, state: StateDep, x_purpose: XPurpose = None
) -> Any:
    """The subject and the records this key may see about it, each with its status now. Audited."""
    purpose = purpose_for(key, x_purpose)
    row, states = await run_in_threadpool(_load, state, key, subject_id, purpose, "subjects.view")
    now = utcnow()
    return {
        "id": row["id"],
        "kind": row["kind"],
        "name": row["name"],
        "region": row["region"],
        "records": [record_out(s, now) for s in states],
        "keys": row["keys"],
    }


@router.get("/{subject_id}/records", response_model=list[RecordOut], responses=responses(401, 403, 404, 422))
async def subject_records(
    subject_id: SubjectPath, key: ReaderKey, state: StateDep, x_purpose: XPurpose = None
) -> Any:
    """Only the records (as in the subject view). Audited."""
    purpose = purpose_for(key, x_purpose)
    _, states = await run_in_threadpool(_load, state, key, subject_id, purpose, "subjects.records")
    now = utcnow()
    return [record_out(s, now) for s in states]
