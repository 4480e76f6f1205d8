"""Checking a report: is it genuine (signed by this registry's report key, issued here, its pages showing what
was signed), and has anything in it changed in the registry since?

Genuine means all of: the attached report.json's Ed25519 signature verifies with this registry's key; its report
number was issued here with that very digest; and, for a PDF, what its pages draw has the fingerprint recorded
at issue (pdf.pages_fingerprint), so a page edited after issue is caught even when the attachment is left
alone. Then the report is compared with the subject's report as the registry would issue it
now, record by record (content.COMPARED).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from .. import audit
from ..audit import AuditEntry
from ..catalogue import Catalogue
from ..settings import Settings
from ..store import Database
from ..store.tables import reports
from . import signing
from .content import FORMAT, SubjectNotFound, build_report, changes_since
from .pdf import ATTACHMENT, pages_fingerprint

__all__ = ["BadReport", "Verdict", "parse_upload", "status_by_number", "verify_envelope"]


MAX_ENVELOPE = 1024 * 1024


class BadReport(ValueError):
    """Input that is not a report at all (not a PDF or JSON, no attachment, malformed envelope)."""

    def __init__(self, field: str, value: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.value, self.reason = field, value, reason


@dataclass
class Verdict:
    genuine: bool
    unchanged: bool | None
    report_no: str | None
    reason: str
    issued_at: str | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if not self.genuine:
            return f"not genuine: {self.reason}"
        if self.unchanged:
            return "genuine; unchanged since issued"
        return "genuine; since issued: " + "; ".join(describe(c) for c in self.changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "genuine": self.genuine,
            "unchanged": self.unchanged,
            "report_no": self.report_no,
            "issued_at": self.issued_at,
            "summary": self.summary,
            "reason": self.reason,
            "changes": self.changes,
        }


def describe(change: dict[str, Any]) -> str:
    rid, name, now = change["record"], change["field"], change["now"]
    if name == "record":
        return f"record {rid} {now}"
    if name == "status":
        return (
            f"record {rid} {now}"
            if now in ("repaired", "revoked", "fulfilled", "expired")
            else (f"record {rid} status {change['was']} -> {now}")
        )
    if name == "ended_at":
        return f"record {rid} ended at {now}" if now else f"record {rid} no longer ended"
    return f"record {rid} {name} {change['was']} -> {now}"


@dataclass(frozen=True)
class Upload:
    envelope: dict[str, Any]
    pdf: bytes | None  # the PDF, when one was uploaded (its pages are checked too)


def _envelope(raw: bytes, where: str) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadReport(where, f"{len(raw)} bytes", "not UTF-8 JSON") from None
    ok = (
        isinstance(data, dict)
        and isinstance(data.get("report"), dict)
        and isinstance(data.get("signature"), str)
        and isinstance(data.get("key_id"), str)
        and data["report"].get("format") == FORMAT
        and isinstance(data["report"].get("report_no"), str)
    )
    if not ok:
        raise BadReport(where, f"{len(raw)} bytes", f"not a signed report envelope ({FORMAT})")
    envelope: dict[str, Any] = data
    return envelope


def parse_upload(raw: bytes, content_type: str) -> Upload:
    """A report PDF (its attached report.json) or the envelope JSON itself; BadReport names what is wrong."""
    if not raw:
        raise BadReport("body", "", "empty: upload a report PDF or its report.json")
    if content_type == "application/json":
        return Upload(_envelope(raw, "body"), None)
    if content_type != "application/pdf":
        raise BadReport("content-type", content_type, "expected application/pdf or application/json")
    if not raw.startswith(b"%PDF-"):
        raise BadReport("body", raw[:8].decode("latin-1"), "not a PDF (no %PDF- header)")
    from pypdf import PdfReader

    try:
        attached = PdfReader(io.BytesIO(raw)).attachments.get(ATTACHMENT)
    except (
        Exception
    ):  # a hostile file reaches parser paths that raise anything (pypdf bounds inflation itself)
        raise BadReport("body", f"{len(raw)} bytes", "the PDF cannot be read") from None
    if not attached:
        raise BadReport("body", f"{len(raw)} bytes", f"the PDF carries no {ATTACHMENT}: not a report")
    if len(attached[0]) > MAX_ENVELOPE:  # a report's JSON is some kB; more is a decompression bomb
        raise BadReport(ATTACHMENT, f"{len(attached[0])} bytes", f"larger than {MAX_ENVELOPE} bytes")
    return Upload(_envelope(attached[0], ATTACHMENT), raw)


def verify_envelope(
    db: Database,
    catalogue: Catalogue,
    settings: Settings,
    upload: Upload,
    now: dt.datetime,
    actor: tuple[str, str] = ("public", "public"),
) -> Verdict:
    env = upload.envelope
    report, sig = env["report"], env["signature"]
    no = report["report_no"][:40]
    path = signing.report_key_path(settings, str(db.engine.url))
    public = signing.load_verify_key(path) if path.exists() else None  # none: no report was ever issued here
    verdict: Verdict
    if (
        public is None
        or env["key_id"] != signing.key_id(public)
        or not signing.signature_valid(public, report, sig)
    ):
        verdict = Verdict(False, None, no, "signature does not match")
    else:
        digest = signing.digest(report)
        with db.engine.connect() as conn:
            row = conn.execute(select(reports).where(reports.c.report_no == no)).mappings().first()
        if row is None or row["digest"] != digest:
            verdict = Verdict(False, None, no, "this registry issued no such report")
        elif upload.pdf is not None and _fingerprint(upload.pdf) != row["pages_digest"]:
            verdict = Verdict(False, None, no, "its pages were altered: they differ from the report issued")
        else:
            verdict = _compare(db, catalogue, report, now)
    with db.engine.begin() as conn:
        outcome = (
            "ok: unchanged" if verdict.unchanged else ("ok: changed" if verdict.genuine else "not genuine")
        )
        audit.append(conn, [AuditEntry(actor[0], actor[1], "reports.verify", f"report:{no}", outcome)], now)
    return verdict


def _fingerprint(pdf: bytes) -> str | None:
    try:
        return pages_fingerprint(pdf)
    except Exception:  # pages a parser cannot read are not the pages issued
        return None


def _compare(db: Database, catalogue: Catalogue, report: dict[str, Any], now: dt.datetime) -> Verdict:
    subject = report.get("subject", {}).get("id", "")
    try:
        with db.engine.connect() as conn:
            current = build_report(conn, catalogue, str(subject), now, report_no=report["report_no"])
    except SubjectNotFound:
        current = {"records": []}
    changes = changes_since(report, current)
    return Verdict(
        True, not changes, report["report_no"], "signed by this registry", report["issued_at"], changes
    )


def status_by_number(
    db: Database, catalogue: Catalogue, report_no: str, short_digest: str, now: dt.datetime
) -> Verdict | None:
    """The /verify page for a QR code: the issued report with this number whose digest starts with
    ``short_digest`` (at least 16 hex digits: a number alone answers nothing), compared with today; None when
    there is no such report."""
    if len(short_digest) < 16 or not re.fullmatch(r"[0-9a-f]+", short_digest):
        return None
    with db.engine.connect() as conn:
        row = conn.execute(select(reports).where(reports.c.report_no == report_no[:40])).mappings().first()
    found = row is not None and row["digest"].startswith(short_digest)
    verdict = _compare(db, catalogue, json.loads(row["content"]), now) if found and row else None
    outcome = "refused: 404" if verdict is None else ("ok: unchanged" if verdict.unchanged else "ok: changed")
    with db.engine.begin() as conn:
        audit.append(
            conn, [AuditEntry("public", "public", "reports.status", f"report:{report_no[:40]}", outcome)], now
        )
    return verdict
