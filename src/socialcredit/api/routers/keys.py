"""API keys over the API, for admin keys: create (the token is shown once), list, revoke. Audited; issuing a
subject key is audited naming the subject and shown in that subject's own file (it opens the whole file)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from ... import audit
from ...audit import AuditEntry
from ...keys import KeyInvalid, create_key, creation_entry, list_keys, parse_duration, revoke_key
from ..deps import AdminKey, StateDep, utcnow
from ..errors import Invalid, NotFoundProblem, field_error, responses
from ..schemas import KeyCreate, KeyCreated, KeyOut

__all__ = ["router"]

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.post("", status_code=201, response_model=KeyCreated, responses=responses(401, 403, 413, 422))
async def create(body: KeyCreate, key: AdminKey, state: StateDep) -> Any:
    """Create a key for one role and its scope; the answer holds the token, shown this once."""
    now = utcnow()

    def work() -> dict[str, Any]:
        try:
            expires = now + parse_duration(body.expires_in) if body.expires_in else None
            with state.db.engine.begin() as conn:
                new, token = create_key(
                    conn,
                    body.role,
                    state.catalogue,
                    now,
                    authority=body.authority,
                    actions=body.actions,
                    subject=body.subject,
                    expires_at=expires,
                    label=body.label,
                )
                audit.append(conn, [creation_entry(key.id, key.role, new)], now)
        except KeyInvalid as exc:
            raise Invalid(str(exc), [field_error(["body", exc.field], exc.value, exc.reason)]) from None
        return {**new.to_dict(now), "token": token}

    return await run_in_threadpool(work)


@router.get("", response_model=list[KeyOut], responses=responses(401, 403))
async def list_all(key: AdminKey, state: StateDep) -> Any:
    """Every key with its status (never a token); a subject key's identifier masked (region and check
    character only): an admin manages keys, it does not read whose file each one opens."""
    now = utcnow()

    def work() -> list[dict[str, Any]]:
        with state.db.engine.connect() as conn:
            return [k.to_dict(now, masked=True) for k in list_keys(conn)]

    return await run_in_threadpool(work)


@router.post("/{key_id}/revoke", response_model=KeyOut, responses=responses(401, 403, 404, 422))
async def revoke(
    key_id: Annotated[str, Path(max_length=32, pattern=r"^[0-9a-f]{1,32}$")], key: AdminKey, state: StateDep
) -> Any:
    """Revoke a key now (idempotent). Other processes stop accepting it within a second."""
    now = utcnow()

    def work() -> dict[str, Any] | None:
        with state.db.engine.begin() as conn:
            done = revoke_key(conn, key_id, now)
            if done is not None:
                audit.append(
                    conn, [AuditEntry(key.id, key.role, "keys.revoke", f"key:{key_id}", "revoked")], now
                )
        return None if done is None else done.to_dict(now, masked=True)

    out = await run_in_threadpool(work)
    if out is None:
        raise NotFoundProblem(f"no key {key_id}")
    state.forget_keys()
    return out
