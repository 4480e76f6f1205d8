"""Credit reports (decision 0605): a subject downloads its own signed PDF; anyone holding a report asks whether
it is genuine and what changed since.

Issuing is for the subject's own key only (an organisation's key gets the special-purpose report): the report
is the subject's own document, and a registrar already reads its records through the API. Verification is
public, rate-limited and audited; it answers only about the report uploaded, which the uploader already holds.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ...identifiers import IdentifierError, parse
from ...reports import (
    BadReport,
    SubjectNotFound,
    issue_report,
    parse_upload,
    status_by_number,
    verify_envelope,
)
from ..deps import PublicLimit, ReaderKey, StateDep, XPurpose, purpose_for, utcnow
from ..errors import ApiError, Forbidden, Invalid, NotFoundProblem, PayloadTooLarge, field_error, responses

__all__ = ["MAX_UPLOAD", "router"]

router = APIRouter(tags=["reports"])

# A report is about 50-200 KB; anything much larger is not one (metrics.BODY_LIMITS refuses it by Content-Length
# before a byte is read).
MAX_UPLOAD = 1024 * 1024


class UnsupportedType(ApiError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


SubjectPath = Annotated[str, Path(max_length=64, description="Resident ID, USCC or passport:ISO3:NUMBER.")]


@router.get(
    "/v1/subjects/{subject_id}/report",
    responses={**responses(401, 403, 404, 422), 200: {"content": {"application/pdf": {}}}},
    response_class=Response,
)
async def subject_report(
    subject_id: SubjectPath, key: ReaderKey, state: StateDep, x_purpose: XPurpose = None
) -> Response:
    """The subject's signed credit report (PDF; for an organisation, the special-purpose credit report). Only
    the subject's own key. Recorded and audited."""
    try:
        sid = parse(subject_id, state.settings.allowlisted_codes()).canonical
    except IdentifierError as exc:
        raise Invalid(str(exc), [field_error(["path", "subject_id"], subject_id, exc.reason)]) from None
    if key.role != "subject" or sid != key.subject:
        raise Forbidden("a credit report is issued to the subject's own key only")
    purpose = purpose_for(key, x_purpose)
    try:
        issued = await run_in_threadpool(
            issue_report,
            state.db,
            state.catalogue,
            state.settings,
            sid,
            (key.id, key.role),
            utcnow(),
            purpose,
        )
    except SubjectNotFound:
        raise NotFoundProblem(f"no subject {sid} in the registry") from None
    return Response(
        issued.pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{issued.report_no}.pdf"',
            "Cache-Control": "no-store",
            "X-Report-No": issued.report_no,
        },
    )


async def read_upload(request: Request) -> tuple[bytes, str]:
    """The body (at most MAX_UPLOAD bytes) and its media type."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/pdf", "application/json"):
        raise UnsupportedType(
            f"upload a report as application/pdf or application/json, not {ctype or 'nothing'}",
            [field_error(["header", "content-type"], ctype, "expected application/pdf or application/json")],
        )
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD:  # a body without Content-Length is bounded too
            raise PayloadTooLarge(f"a report is at most {MAX_UPLOAD} bytes")
    return body, ctype


_UPLOAD_RESPONSES = responses(413, 422, 429)
_UPLOAD_RESPONSES[415] = {**_UPLOAD_RESPONSES[413], "description": "Not application/pdf or application/json"}


@router.post("/v1/reports/verify", responses=_UPLOAD_RESPONSES)
async def verify_report(request: Request, state: StateDep, _limit: PublicLimit) -> Any:
    """Is this report (its PDF, or the report.json attached to it) genuine, and has anything in it changed in the
    registry since it was issued? Public, rate-limited, audited."""
    body, ctype = await read_upload(request)
    try:
        upload = parse_upload(body, ctype)
    except BadReport as exc:
        raise Invalid(f"{exc.field}: {exc.reason}", [field_error(["body"], exc.value, exc.reason)]) from None
    verdict = await run_in_threadpool(
        verify_envelope, state.db, state.catalogue, state.settings, upload, utcnow()
    )
    return verdict.to_json()


@router.get("/v1/reports/{report_no}", responses=responses(404, 422, 429))
async def report_status(
    report_no: Annotated[str, Path(max_length=40)], d: str, state: StateDep, _limit: PublicLimit
) -> Any:
    """What the QR code opens: the issued report with this number and digest prefix ``d`` (16 hex digits or more),
    compared with the registry today. A number without its digest answers 404, as an unknown number does."""
    verdict = await run_in_threadpool(
        status_by_number, state.db, state.catalogue, report_no, d.lower(), utcnow()
    )
    if verdict is None:
        raise NotFoundProblem("no report with this number and digest")
    return verdict.to_json()
