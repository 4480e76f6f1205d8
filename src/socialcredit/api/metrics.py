"""Prometheus metrics, and the one ASGI middleware that counts requests and guards body sizes.

Each app has its own registry, so tests can build many apps in one process. The middleware is plain ASGI (no
BaseHTTPMiddleware) because it sits on the check hot path.
"""

from __future__ import annotations

import json
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BODY_LIMITS", "DEFAULT_BODY_LIMIT", "Metrics", "RequestGuard"]

DEFAULT_BODY_LIMIT = 64 * 1024
# Larger bodies only where the contract needs them: 10,000 batch queries fit in about 1 MB.
BODY_LIMITS = {
    "/v1/checks/batch": 2 * 1024 * 1024,
    "/v1/reports/verify": 2**20,
    "/verify": 2**20 + 8192,
    # Evidence uploads: the ceiling of the evidence_max_bytes setting plus the form's text; the portal refuses
    # a body over the configured setting itself, before reading it (decision 0615).
    "/portal/me/objection": 50 * 1024 * 1024 + 64 * 1024,
    "/portal/me/repair": 50 * 1024 * 1024 + 64 * 1024,
}  # reports: 0605


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "socialcredit_http_requests_total",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "socialcredit_http_request_seconds",
            "HTTP request latency by route",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self.checks = Counter(
            "socialcredit_checks_total", "Checks answered, by outcome", ["outcome"], registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _TooLarge(Exception):
    pass


def _problem(status: int, title: str, detail: str, path: str) -> bytes:
    slug = "payload-too-large" if status == 413 else "bad-request"
    return json.dumps(
        {
            "type": f"https://socialcredit.invalid/problems/{slug}",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": path,
        }
    ).encode()


class RequestGuard:
    """Rejects bodies over the route's limit with 413 (by Content-Length, or while streaming) and records
    request counts and latencies by route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics, limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.limits = {**BODY_LIMITS, **(limits or {})}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = self.limits.get(path, DEFAULT_BODY_LIMIT)
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        declared = dict(scope.get("headers") or ()).get(b"content-length")
        try:
            if declared is not None and (not declared.isdigit() or int(declared) > limit):
                raise _TooLarge
            seen = {"n": 0}

            async def receive_wrapper() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    seen["n"] += len(message.get("body", b""))
                    if seen["n"] > limit:  # a streamed body: FastAPI passes HTTPException on to the handlers
                        raise HTTPException(413, f"this endpoint accepts at most {limit} bytes")
                return message

            await self.app(scope, receive_wrapper, send_wrapper)
        except _TooLarge:
            status["code"] = 413
            body = _problem(
                413, "Request body too large", f"this endpoint accepts at most {limit} bytes", path
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], template, str(status["code"])).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - started)
