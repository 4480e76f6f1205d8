"""Evidence files for objections and repair requests: type by magic bytes, size limit, SHA-256 digest.

The media type is decided by the file's first bytes, never by its name or the type the browser claims: PDF
(``%PDF-``), PNG (its 8-byte signature) and JPEG (``FF D8 FF``). The bytes are stored in the database with their
digest, in the same transaction as the objection or repair request they belong to, so a failed step leaves no
file behind (decision 0615). Who may read them is decided by the API (:mod:`socialcredit.api.routers.evidence`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, or_, select

from ..store.tables_selfservice import evidence

__all__ = [
    "MEDIA_TYPES",
    "EvidenceInvalid",
    "EvidenceUpload",
    "attach",
    "evidence_for",
    "get_evidence",
    "sniff",
]

# Accepted types and their signatures (the first bytes of the file).
MEDIA_TYPES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
_UNSAFE = re.compile(r"[^\w.\- ()\u3000-\u9fff]")
_MAX_NAME = 200


class EvidenceInvalid(ValueError):
    """An upload that is refused: ``field`` names the form field, ``reason`` says why."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        super().__init__(f"{field}: {value!r}: {reason}")
        self.field, self.value, self.reason = field, value, reason


@dataclass(frozen=True, slots=True)
class EvidenceUpload:
    """A checked file, ready to be attached: its cleaned name, type from the magic bytes, bytes and digest."""

    filename: str
    media_type: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def sniff(content: bytes) -> str | None:
    """The accepted media type the bytes begin with, or None."""
    for media_type, signatures in MEDIA_TYPES.items():
        if any(content.startswith(sig) for sig in signatures):
            return media_type
    return None


def clean_name(filename: str) -> str:
    """The uploaded name reduced to a safe label (no path, no control or markup characters)."""
    base = unicodedata.normalize("NFC", filename.replace("\\", "/").rsplit("/", 1)[-1])
    return (_UNSAFE.sub("_", base).strip(" .") or "evidence")[:_MAX_NAME]


def check_upload(field: str, filename: str, content: bytes, max_bytes: int) -> EvidenceUpload:
    """A file the form sent, checked: not empty, at most ``max_bytes``, PDF, JPEG or PNG by its bytes."""
    if not content:
        raise EvidenceInvalid(field, filename, "the file is empty")
    if len(content) > max_bytes:
        raise EvidenceInvalid(field, filename, f"larger than {max_bytes} bytes ({len(content)})")
    media_type = sniff(content)
    if media_type is None:
        raise EvidenceInvalid(
            field, filename, "not a PDF, JPEG or PNG file (its content is checked, not its name)"
        )
    return EvidenceUpload(clean_name(filename), media_type, content)


def _row_out(row: Any) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "record_id": int(row.record_id),
        "objection_id": row.objection_id,
        "repair_id": row.repair_id,
        "filename": row.filename,
        "media_type": row.media_type,
        "size": int(row.size),
        "sha256": row.sha256,
        "uploaded_at": row.uploaded_at.isoformat(),
    }


_LISTED = [c for c in evidence.c if c.name != "content"]


def attach(
    conn: Connection,
    upload: EvidenceUpload,
    record_id: int,
    by: str,
    now: dt.datetime,
    *,
    objection_id: int | None = None,
    repair_id: int | None = None,
) -> dict[str, Any]:
    """Store one file for an objection or a repair request (exactly one of them), in the caller's
    transaction."""
    if (objection_id is None) == (repair_id is None):
        raise ValueError("evidence belongs to exactly one objection or one repair request")
    new_id = conn.execute(
        insert(evidence)
        .values(
            record_id=record_id,
            objection_id=objection_id,
            repair_id=repair_id,
            filename=upload.filename,
            media_type=upload.media_type,
            size=len(upload.content),
            sha256=upload.sha256,
            content=upload.content,
            uploaded_by=by,
            uploaded_at=now,
        )
        .returning(evidence.c.id)
    ).scalar_one()
    row = conn.execute(select(*_LISTED).where(evidence.c.id == new_id)).one()
    return _row_out(row)


def evidence_for(
    conn: Connection, *, objection_ids: list[int] | None = None, repair_ids: list[int] | None = None
) -> list[dict[str, Any]]:
    """The files (without their bytes) of these objections and repair requests, oldest first."""
    conds = []
    if objection_ids:
        conds.append(evidence.c.objection_id.in_(objection_ids))
    if repair_ids:
        conds.append(evidence.c.repair_id.in_(repair_ids))
    if not conds:
        return []
    rows = conn.execute(select(*_LISTED).where(or_(*conds)).order_by(evidence.c.id)).all()
    return [_row_out(r) for r in rows]


def get_evidence(conn: Connection, evidence_id: int) -> tuple[dict[str, Any], bytes] | None:
    row = conn.execute(select(evidence).where(evidence.c.id == evidence_id)).first()
    return None if row is None else (_row_out(row), bytes(row.content))
