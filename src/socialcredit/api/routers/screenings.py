"""Screening over HTTP, as a job (issue 17 point 2, decision 0910): upload, progress, download.

``POST /v1/screenings`` takes the file as the request body (its format from ``?format=`` or the Content-Type),
refuses it by size before reading (Content-Length over ``screening_max_upload_bytes``, or while streaming),
reads it once to check it and count its rows and identifiers, charges a screener key's identifier budget for
the whole file (429 before any lookup), and queues the job: 202 with the job. ``GET /v1/screenings/{id}`` is
its progress, ``GET /v1/screenings/{id}/result`` the screened file, in the input's format, cut to the key's
view (api/screening_views.py). A job is visible to the key that uploaded it only: any other key gets the same
404 as for an id that does not exist, so ids are no oracle. Every run is audited (digest, rows, hits).

With ``save=NAME`` the job also saves the screening for the uploading key (decision 0916), as
``socialcredit screen --save NAME --owner <key id>`` does: its rows and keys as screened against the listings
(a screener's against public listings only), its action and threshold, named in the transaction of the run's
audit entry, so ``POST /v1/screening-watchlists/{name}/runs`` re-runs it. A name the key has saved already is a
409 before the upload is read; a failed run leaves no saved screening.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from ... import audit as audit_log
from ...audit import AuditEntry
from ...feed.reader import head
from ...keys import ApiKey
from ...screening.files import ScreenInputError, open_reader
from ...screening.jobs import MAX_ACTIVE, Job, Jobs, new_id
from ...screening.matcher import HIT
from ...screening.run import Summary
from ...screening.watch import NAME_RULE, Saver, check_name, get_watch, save_watch
from ..deps import Purpose, ScreenerKey, StateDep, charge_identifiers, purpose_for
from ..errors import (
    PROBLEM,
    ApiError,
    ConflictProblem,
    Forbidden,
    Invalid,
    NotFoundProblem,
    RateLimited,
    field_error,
    responses,
)
from ..screening_views import shape_for
from ..state import AppState

__all__ = ["router"]

router = APIRouter(prefix="/v1/screenings", tags=["screenings"])
Format = Literal["csv", "jsonl", "parquet", "xlsx"]
MEDIA: dict[str, str] = {
    "csv": "text/csv",
    "jsonl": "application/jsonl",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_BY_MEDIA = {
    **{v: k for k, v in MEDIA.items()},
    "application/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/x-parquet": "parquet",
}
# A resident identity number, or a passport: what the public is shown masked (organisations' codes are not).
_PERSON = r"^(\d{17}[\dX]|PASSPORT:.*)$"
_ID = re.compile(r"[0-9a-f]{24}")  # screening.jobs.new_id


class UnsupportedMediaType(ApiError):
    status, slug, title = 415, "unsupported-media-type", "Not a file format screening reads"


_UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file itself (not a form): CSV, JSON Lines, Parquet or Excel .xlsx, with a "
        "`subject_id` and/or `name` column; optional `birth_date`, `region`, `kind`; other columns are "
        "carried through.",
        "content": {m: {"schema": {"type": "string", "format": "binary"}} for m in MEDIA.values()},
    }
}
_415: dict[int | str, dict[str, Any]] = {
    415: {
        "description": "Unknown file format: neither `format` nor the Content-Type names one",
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}


def _jobs(state: AppState) -> Jobs:
    if state.screenings is None:
        state.screenings = Jobs(state.db.engine, state.catalogue, Path(state.settings.screening_dir))
    jobs: Jobs = state.screenings
    return jobs


def _format(request: Request, given: str | None) -> str:
    if given is not None:
        return given
    raw = request.headers.get("content-type", "")
    media = raw.split(";", 1)[0].strip().lower()
    fmt = _BY_MEDIA.get(media)
    if fmt is None:
        shown = raw[:100] or None
        raise UnsupportedMediaType(
            f"Content-Type {shown!r} names no format screening reads: pass ?format=csv|jsonl|parquet|xlsx "
            "or one of " + ", ".join(MEDIA.values()),
            [field_error(["header", "content-type"], shown, "expected " + ", ".join(MEDIA.values()))],
        )
    return fmt


def _action(state: AppState, key: ApiKey, action: str | None) -> str | None:
    loc: list[str | int] = ["query", "action"]
    if key.role == "screener":
        if action is not None:
            raise Invalid(
                "action: a screener gets public listings, not decisions",
                [field_error(loc, action, "not allowed for a screener key")],
            )
        return None
    if action is None:
        if key.role == "checkpoint":
            raise Invalid(
                "action: a checkpoint screens for one of its actions",
                [field_error(loc, None, "required for a checkpoint key")],
            )
        return None
    if action not in state.checker.rules.actions:
        raise Invalid(f"action: {action!r}: unknown action", [field_error(loc, action, "unknown action")])
    if key.role == "checkpoint" and not key.covers(action):
        raise Forbidden(f"action {action!r} is outside this key's scope ({', '.join(key.actions)})")
    return action


async def _receive(request: Request, path: Path) -> tuple[int, str]:
    """Stream the body to ``path``: its size and sha256. The app's body guard stops it past the limit (413);
    whatever stops it, no partial file stays."""
    h = hashlib.sha256()
    size = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("wb") as f:
            async for block in request.stream():
                if block:
                    h.update(block)
                    size += len(block)
                    f.write(block)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return size, h.hexdigest()


def _survey(path: Path, fmt: str) -> tuple[int, int]:
    """Read the file once: its rows, and how many distinct persons' identifiers it gives (each costs a
    screener one lookup). Raises ScreenInputError on a file screening would refuse."""
    reader, _ = open_reader(path, fmt)
    rows = 0
    persons: set[str] = set()
    for c in reader.chunks(50_000):
        rows += len(c)
        ids = c.fields.get("subject_id")
        if ids:
            col = pl.Series(ids, dtype=pl.String).drop_nulls().str.replace_all(" ", "").str.to_uppercase()
            persons.update(col.filter(col.str.contains(_PERSON)).to_list())
    return rows, len(persons)


def _audit_entry(
    key: ApiKey, job: Job, purpose: str | None, outcome: str, saved: str | None = None
) -> AuditEntry:
    target = f"screening:{job.id} sha256:{job.sha256}" + (f" action:{job.action}" if job.action else "")
    target += f" saved:{saved}" if saved else ""
    return AuditEntry(key.id, key.role, "screen.file", target, outcome[:200], purpose)


@dataclass
class _Saving:
    """A screening being saved (``save=NAME``) for the uploading key: the feed cursor before it ran, and
    the rows written so far under a watch id no saved screening names yet."""

    name: str
    view: str
    cursor: int
    saver: Saver

    def save(self, state: AppState, job: Job, s: Summary, entry: AuditEntry) -> None:
        """Name the rows and append the run's audit entry in one transaction, on the audit writer's thread
        (in turn with its commits)."""
        assert s.at is not None
        at = s.at

        def commit() -> None:
            now = dt.datetime.now(dt.UTC)
            with state.db.engine.begin() as conn:
                save_watch(
                    conn,
                    owner=job.key_id,
                    name=self.name,
                    view=self.view,
                    action=job.action,
                    threshold=job.threshold,
                    source=f"upload screening:{job.id} sha256:{job.sha256}",
                    at=at,
                    cursor=self.cursor,
                    saver=self.saver,
                    now=now,
                )
                audit_log.append(conn, [entry], now)

        try:
            state.audit.run(commit).result(timeout=60)
        except ScreenInputError as exc:
            raise ScreenInputError(str(exc).replace("--save:", "save:", 1)) from None

    def discard(self) -> None:
        with contextlib.suppress(SQLAlchemyError):
            self.saver.discard()


def _saving(state: AppState, key: ApiKey, name: str | None) -> _Saving | None:
    """Refuse a bad name (422) or one the key has saved already (409), before the upload is read."""
    if name is None:
        return None
    try:
        check_name(name)
    except ScreenInputError:
        raise Invalid(
            f"save: {name!r}: {NAME_RULE}", [field_error(["query", "save"], name, NAME_RULE)]
        ) from None
    with state.db.engine.connect() as conn:
        try:
            get_watch(conn, name, key.id)
        except LookupError:
            pass
        else:
            raise ConflictProblem(f"save: {name!r}: a saved screening of that name exists; choose another")
        cursor = head(conn)
    view = "public" if key.role == "screener" else "full"
    return _Saving(name, view, cursor, Saver(state.db.engine))


async def _accept(
    request: Request, state: AppState, key: ApiKey, jobs: Jobs, fmt: str, action: str | None, threshold: float
) -> Job:
    """Receive the upload, check it, charge a screener's budget and make the job; on any refusal no file
    stays."""
    job_id = new_id()
    path = jobs.upload_path(job_id, fmt)
    size, sha = await _receive(request, path)
    try:
        if size == 0:
            raise Invalid("body: empty: upload the file as the request body",
                          [field_error(["body"], None, "empty body")])  # fmt: skip
        try:
            rows, persons = await run_in_threadpool(_survey, path, fmt)
        except ScreenInputError as exc:
            reason = str(exc).replace(str(path), "upload")
            raise Invalid(f"body: {reason}", [field_error(["body"], fmt, reason)]) from None
        if key.role == "screener":
            charge_identifiers(request, state, persons, key)
        return await run_in_threadpool(
            jobs.create, job_id, key.id, key.role, fmt, action, threshold, size, sha, rows
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise


@router.post(
    "",
    status_code=202,
    openapi_extra=_UPLOAD_DOC,
    responses={**responses(401, 403, 409, 413, 422, 429), **_415},
)
async def upload(
    request: Request,
    key: ScreenerKey,
    state: StateDep,
    x_purpose: Purpose = None,
    format: Annotated[
        Format | None, Query(description="The file's format (default: from the Content-Type).")
    ] = None,
    action: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Give every match the decision for this action (required for a checkpoint, which "
            "must hold it in its scope; not for a screener).",
            examples=["transport.air.ticket"],
        ),
    ] = None,
    threshold: Annotated[
        float, Query(gt=0, le=1, description=f"Name score for a hit (default {HIT}).")
    ] = HIT,
    save: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Also save the screening under this name for this key, to re-run it on what changed "
            f"(`POST /v1/screening-watchlists/{{name}}/runs`): {NAME_RULE}.",
            examples=["suppliers"],
        ),
    ] = None,
) -> Any:
    """Upload a file to screen: 202 with the job (poll its `id`, then download `result`)."""
    purpose = purpose_for(key, x_purpose)
    fmt = _format(request, format)
    checked = _action(state, key, action)
    saving = await run_in_threadpool(_saving, state, key, save)
    jobs = _jobs(state)
    if not await run_in_threadpool(jobs.reserve, key.id):
        raise RateLimited(
            f"at most {MAX_ACTIVE} screenings uploading, queued or running per key; retry when one is done",
            headers={"Retry-After": "60"},
        )
    try:
        job = await _accept(request, state, key, jobs, fmt, checked, threshold)
    finally:
        jobs.release(key.id)

    def audit(s: Summary) -> None:
        c = s.counts
        outcome = f"{s.rows} rows: {c['hit']} hits, {c['possible_match']} possible, {c['invalid']} invalid"
        entry = _audit_entry(key, job, purpose, outcome, save)
        if saving is None:
            state.audit.submit(entry).result(timeout=60)
        else:
            saving.save(state, job, s, entry)

    def failed(reason: str) -> None:
        if saving is not None:
            saving.discard()  # the rows of a run that failed: no screening names them
        state.audit.submit(_audit_entry(key, job, purpose, f"failed: {reason}", save)).result(timeout=60)

    jobs.submit(
        job,
        shape_for(state, key.role, key.authority, threshold),
        audit,
        failed,
        rows=None if saving is None else saving.saver,
        public_only=saving is not None and saving.view == "public",
    )
    return JSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/v1/screenings/{job.id}"})


async def _own(state: AppState, key: ApiKey, screening_id: str) -> Job:
    job = None
    if _ID.fullmatch(screening_id):  # anything else names no job (and never reaches the database)
        job = await run_in_threadpool(_jobs(state).get, screening_id, key.id)
    if job is None:
        shown = screening_id[:64].encode("unicode_escape").decode("ascii")
        raise NotFoundProblem(f"no screening {shown!r} for this key")
    return job


@router.get("/{screening_id}", responses=responses(401, 403, 404))
async def progress(screening_id: str, key: ScreenerKey, state: StateDep) -> Any:
    """The job: `status` (queued, running, done, failed), rows done of rows total, counts when done."""
    return (await _own(state, key, screening_id)).to_dict()


@router.get(
    "/{screening_id}/result",
    responses={
        **responses(401, 403, 404, 409),
        200: {"content": {m: {"schema": {"type": "string", "format": "binary"}} for m in MEDIA.values()}},
    },
)
async def result(screening_id: str, key: ScreenerKey, state: StateDep) -> Any:
    """The screened file, in the input's format: every row with `status`, `score`, `matches`, `reason`."""
    job = await _own(state, key, screening_id)
    path = _jobs(state).result_path(job)
    if job.status != "done" or not path.is_file():
        raise ConflictProblem(f"screening {job.id} is {job.status}: no result" + (
            f" ({job.error})" if job.error else ""))  # fmt: skip
    return FileResponse(path, media_type=MEDIA[job.format], filename=f"screening-{job.id}{path.suffix}")
