"""The portal's /verify page: open a report from its QR code (number and digest), or upload one to check it.

As every portal page, it only asks the API (decision 0600): ``GET /v1/reports/{no}`` and
``POST /v1/reports/verify``. The upload is a multipart form with one file, read up to the API's limit.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from ..api.routers.reports import MAX_UPLOAD
from ..keys import InvalidToken
from .apiclient import call_api
from .routes import FormError, _read_form, _render, _state

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


class UploadError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def _context(**extra: Any) -> dict[str, Any]:
    return {
        "page_title": "核验信用报告 Verify a report",
        "verdict": None,
        "error": None,
        "max": MAX_UPLOAD,
    } | extra


@router.get("/verify", response_class=HTMLResponse)
async def verify_page(request: Request, no: str = "", d: str = "") -> HTMLResponse:
    if not no:
        return _render(request, "verify.html", _context())
    answer = await call_api(request, "GET", f"/v1/reports/{quote(no[:40], safe='')}", params={"d": d[:64]})
    if not answer.ok:
        return _render(request, "verify.html", _context(error=answer.detail), status=answer.status)
    return _render(request, "verify.html", _context(verdict=answer.body), private=True)


async def _read_file(request: Request) -> tuple[bytes, str]:
    """The one file of a multipart form: its bytes and media type (by content: a PDF starts %PDF-)."""
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise UploadError(415, f"expected a form with a file (multipart/form-data), got {ctype or 'nothing'}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD + 4096:
            raise UploadError(413, f"a report is at most {MAX_UPLOAD} bytes")
    msg = BytesParser(_class=EmailMessage, policy=HTTP).parsebytes(
        f"Content-Type: {ctype}\r\n\r\n".encode("latin-1") + body
    )
    parts = (
        [p for p in msg.iter_parts() if p.get_param("name", header="content-disposition") == "report"]
        if (msg.is_multipart())
        else []
    )
    if not parts:
        raise UploadError(400, "the form has no file named report")
    data = parts[0].get_payload(decode=True)
    if not isinstance(data, bytes) or not data:
        raise UploadError(422, "report: the file is empty")
    return data, "application/json" if data.lstrip()[:1] == b"{" else "application/pdf"


@router.post("/verify", response_class=HTMLResponse)
async def verify_upload(request: Request) -> HTMLResponse:
    try:
        data, ctype = await _read_file(request)
    except UploadError as exc:
        return _render(request, "verify.html", _context(error=exc.detail), status=exc.status)
    answer = await call_api(request, "POST", "/v1/reports/verify", content=(data, ctype))
    if not answer.ok:
        return _render(request, "verify.html", _context(error=answer.detail), status=answer.status)
    return _render(request, "verify.html", _context(verdict=answer.body), private=True)


@router.post("/portal/report", response_class=Response)
async def report_download(request: Request) -> Response:
    """A subject's own report, with the key sent in the form body (never in a URL), as on /portal/me."""
    try:
        form = await _read_form(request)
    except FormError as exc:
        return _render(request, "verify.html", _context(report_error=exc.detail), status=exc.status)
    token = form.get("token", "")
    if not token:
        return _render(
            request, "verify.html", _context(report_error="a subject key (sc_…) is required"), status=422
        )
    try:
        key = await run_in_threadpool(_state(request).key_for, token)
    except InvalidToken as exc:
        detail = f"the key was not accepted: {exc.reason}"
        return _render(request, "verify.html", _context(report_error=detail), status=401)
    if key.role != "subject" or key.subject is None:
        detail = f"a report is issued to a subject's own key; {key.role} keys cannot (use a subject key)"
        return _render(request, "verify.html", _context(report_error=detail), status=403)
    answer = await call_api(request, "GET", f"/v1/subjects/{key.subject}/report", token=token)
    if not answer.ok:
        return _render(request, "verify.html", _context(report_error=answer.detail), status=answer.status)
    headers = {k: v for k, v in (answer.headers or {}).items() if k in ("content-disposition", "x-report-no")}
    return Response(
        answer.content, media_type="application/pdf", headers=headers | {"Cache-Control": "no-store"}
    )
