"""A real webhook receiver on 127.0.0.1 (an ephemeral port) for the feed tests and the benchmark.

It verifies each signature with a :class:`ReplayGuard`, keeps every accepted body, counts duplicates (a
``Replayed`` event id answers 200, as a receiver should), and can be taken down and brought back on the same
port to play an endpoint that is away for a while.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from socialcredit.feed import HEADER, Replayed, ReplayGuard, SignatureError, verify_signature
from socialcredit.settings import get_settings

__all__ = ["Receiver"]


class Receiver:
    def __init__(
        self, secret: str = "", port: int = 0, on_event: Callable[[dict[str, Any]], None] | None = None
    ):
        self.secret = secret
        self.guard = ReplayGuard()
        self.events: list[dict[str, Any]] = []
        self.duplicates: list[int] = []
        self.refused: list[str] = []
        self.status = 200  # what to answer to authentic, new events
        self.on_event = on_event
        self.lock = threading.Lock()
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        # It listens on 127.0.0.1, where webhooks go only with this setting (feed.targets); kept for the process.
        os.environ["SOCIALCREDIT_WEBHOOK_ALLOW_PRIVATE"] = "true"
        get_settings.cache_clear()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                code = receiver.handle(self.headers.get(HEADER), body)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def handle(self, header: str | None, body: bytes) -> int:
        with self.lock:
            if self.status != 200:
                return self.status
            try:
                verify_signature(self.secret, header, body, time.time(), guard=self.guard)
            except Replayed:
                self.duplicates.append(int(json.loads(body)["event_id"]))
                return 200
            except SignatureError as exc:
                self.refused.append(str(exc))
                return 401
            event = json.loads(body)
            self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        return 200

    def ids(self) -> list[int]:
        with self.lock:
            return [int(e["event_id"]) for e in self.events]
