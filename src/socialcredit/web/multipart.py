"""``multipart/form-data`` bodies for the portal's upload forms, read with the standard library.

python-multipart is not a dependency (decision 0601 kept the forms free of it); the one upload form needs only
a bounded body split into parts, which :mod:`email.parser` does. The body is read up to a limit and refused
beyond it; a ``Content-Length`` over the limit is refused before a byte of the body is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP

from fastapi import Request

__all__ = ["MultipartForm", "TooLarge", "Unreadable", "declared_length", "read_multipart"]

MAX_PARTS = 12


class TooLarge(Exception):
    """The body is over the limit (by its Content-Length, or while it was being read)."""


class Unreadable(Exception):
    """Not a multipart form, or one that cannot be split."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass
class MultipartForm:
    fields: dict[str, str] = field(default_factory=dict)  # text fields, stripped; first value wins
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # name -> (filename, bytes)


def declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    return int(raw) if raw is not None and raw.isdigit() else None


async def read_multipart(request: Request, limit: int) -> MultipartForm:
    """The form's text fields and files. Raises :class:`TooLarge` past ``limit`` bytes, :class:`Unreadable`
    for another content type or a malformed body."""
    ctype = request.headers.get("content-type", "")
    if ctype.split(";")[0].strip().lower() != "multipart/form-data" or "boundary=" not in ctype:
        raise Unreadable(415, f"expected multipart/form-data, got {ctype.split(';')[0] or 'nothing'}")
    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise TooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge()
        chunks.append(chunk)
    head = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    try:
        message = BytesParser(policy=HTTP).parsebytes(head + b"".join(chunks))
    except Exception as exc:  # the parser is lenient; anything it raises is a malformed body
        raise Unreadable(400, f"the form could not be read: {exc}") from None
    if not message.is_multipart():
        raise Unreadable(400, "the form could not be read: no parts")
    out = MultipartForm()
    parts = message.get_payload()
    if not isinstance(parts, list) or len(parts) > MAX_PARTS:
        raise Unreadable(400, f"the form could not be read: expected 1 to {MAX_PARTS} parts")
    for part in parts:
        if not isinstance(part, Message):
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or name in out.fields or name in out.files:
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            out.files[name] = (filename, data)
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            out.fields[name] = data.decode(charset).strip()
        except (UnicodeDecodeError, LookupError):
            raise Unreadable(400, f"{name}: the field is not UTF-8 text") from None
    return out
