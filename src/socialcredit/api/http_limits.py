"""uvicorn's HTTP protocols with a deadline for a request's headers (``socialcredit serve`` uses them).

uvicorn closes a connection that stays idle past its keep-alive timeout, but any byte received cancels that
timer, and nothing bounds how long a request's headers may take: a client sending one header byte every few
seconds holds its connection (and a slot of ``limit_concurrency``) for ever, so a few hundred of them starve
the server (slowloris). Here each connection must complete a request's headers within
``serve_header_timeout`` seconds of opening, and of the previous response; otherwise it is closed. The
request head is bounded too (``serve_max_header_bytes``): the httptools protocol counts the request line and
headers as they are parsed (400); the h11 fallback has only uvicorn's ``h11_max_incomplete_event_size``,
which bounds a head still arriving in pieces (a whole head in one read passes).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from ..settings import get_settings

__all__ = ["HeaderDeadlineH11", "HeaderDeadlineHttpTools", "protocol_path"]


class _Deadline:
    """One timer per connection: armed while a request's headers are awaited, closing the transport when it
    fires."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop

    def _setup_deadline(self) -> None:
        self._header_timeout = get_settings().serve_header_timeout
        self._max_head = get_settings().serve_max_header_bytes
        self._deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self._header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _count_head(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > self._max_head:
            # Raised inside the parser's callback, uvicorn answers 400 and closes, as h11 does past its limit.
            raise ValueError("request head too large")

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


class HeaderDeadlineH11(_Deadline, H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setup_deadline()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:  # a request's headers are in: it now runs on the app's time
            self._disarm()

    def on_response_complete(self) -> None:
        self._arm()  # first: the next (pipelined) request may start inside, and disarm it
        super().on_response_complete()


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional for uvicorn
    HeaderDeadlineHttpTools: type | None = None
else:

    class _HttpTools(_Deadline, HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._setup_deadline()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_url(self, url: bytes) -> None:
            self._count_head(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count_head(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_message_begin(self) -> None:
            self._head_bytes = 0
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            self._arm()
            super().on_response_complete()

    HeaderDeadlineHttpTools = _HttpTools


def protocol_path() -> str:
    """The import path of the protocol to serve with: httptools' (faster) when installed, else h11's."""
    name = "HeaderDeadlineHttpTools" if HeaderDeadlineHttpTools is not None else "HeaderDeadlineH11"
    return f"{__name__}:{name}"
