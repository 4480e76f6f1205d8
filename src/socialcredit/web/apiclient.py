"""The portal's only way to personal data: a request to the JSON API of the same app, in process.

The portal never queries the store for what an audience may see: it asks the API, so keys, roles, scopes,
masking, rate limits and the audit log are applied once, by the code the API tests cover
(docs/decisions/0600).
The caller's address is passed through, so the public rate limit counts the person, not the portal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Request

__all__ = ["ApiAnswer", "call_api"]

_BASE = "http://portal.internal"


@dataclass(frozen=True)
class ApiAnswer:
    """A JSON API response: its status and body (a problem+json body when ``ok`` is false)."""

    status: int
    body: Any
    content: bytes = b""  # the raw body, for an answer that is not JSON (a report PDF)
    headers: dict[str, str] | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def detail(self) -> str:
        """The problem's one-line reason (or a generic one when the body is not a problem)."""
        if isinstance(self.body, dict) and isinstance(self.body.get("detail"), str):
            return str(self.body["detail"])
        return f"the API answered {self.status}"

    @property
    def field_errors(self) -> list[dict[str, Any]]:
        """The problem's ``errors`` list (field path, value, reason), if any."""
        errors = self.body.get("errors") if isinstance(self.body, dict) else None
        return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


async def call_api(
    request: Request,
    method: str,
    path: str,
    *,
    token: str | None = None,
    purpose: str | None = None,
    params: dict[str, Any] | None = None,
    json: Any = None,
    extra_headers: dict[str, str] | None = None,
    content: tuple[bytes, str] | None = None,
) -> ApiAnswer:
    """Send one request to this app's API as the caller (same client address, the caller's own token)."""
    client = (request.client.host, request.client.port) if request.client else ("unknown", 0)
    headers: dict[str, Any] = {"Accept": "application/json"}
    for name in ("x-forwarded-for", "x-real-ip"):  # the API resolves the client as it would for this request
        if name in request.headers:
            headers[name] = ", ".join(request.headers.getlist(name))
    headers.update(extra_headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if purpose is not None:
        # The API reads a header's bytes as UTF-8, so a purpose in Chinese travels intact.
        headers["X-Purpose"] = purpose.encode("utf-8")
    transport = httpx.ASGITransport(app=request.app, raise_app_exceptions=False, client=client)
    async with httpx.AsyncClient(transport=transport, base_url=_BASE) as http:
        if content is not None:  # a raw body and its media type (an uploaded report)
            headers["Content-Type"] = content[1]
        raw = content[0] if content is not None else None
        resp = await http.request(method, path, headers=headers, params=params, json=json, content=raw)
    try:
        body = resp.json()
    except ValueError:
        body = None
    return ApiAnswer(resp.status_code, body, resp.content, dict(resp.headers))
