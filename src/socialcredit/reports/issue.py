"""Issuing a report: build its content, sign it, record it, audit it, render the PDF."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .. import audit
from ..audit import AuditEntry
from ..catalogue import Catalogue
from ..settings import Settings
from ..store import Database
from ..store.tables import reports
from . import signing
from .content import build_report
from .pdf import pages_fingerprint, render_pdf, verify_url

__all__ = ["Issued", "envelope_of", "issue_report", "signature_line"]


@dataclass(frozen=True)
class Issued:
    report_no: str
    digest: str
    pdf: bytes
    report: dict[str, Any]


def envelope_of(report: dict[str, Any], signature: str, key_id: str) -> bytes:
    """The attachment: the report with its signature (the report is signed, not the envelope)."""
    return signing.canonical({"alg": "Ed25519", "key_id": key_id, "report": report, "signature": signature})


def signature_line(key_id: str, signature: str) -> str:
    return f"签名 Signature (Ed25519, key {key_id}): {signature}"


def issue_report(
    db: Database,
    catalogue: Catalogue,
    settings: Settings,
    subject_id: str,
    actor: tuple[str, str],
    now: dt.datetime,
    purpose: str | None = None,
) -> Issued:
    """Issue ``subject_id``'s report as ``actor`` (key id or cli:<user>, role); SubjectNotFound if absent.

    The key and font are loaded before the transaction, so a missing font or unusable key stores nothing; the
    report row and its audit entry commit together."""
    key = signing.load_signing_key(signing.report_key_path(settings, str(db.engine.url)))
    kid = signing.key_id(key.public_key())
    from .fonts import ensure_font

    ensure_font(settings)
    with db.engine.begin() as conn:
        report = build_report(conn, catalogue, subject_id, now, verify_at=settings.public_url)
        sig = signing.sign(key, report)
        digest = signing.digest(report)
        url = verify_url(report["verify_at"] or settings.public_url, report["report_no"], digest)
        pdf = render_pdf(report, envelope_of(report, sig, kid), url, signature_line(kid, sig))
        pages = pages_fingerprint(pdf)
        if pages is None:  # our own renderer drew something the fingerprint does not cover: a bug, not input
            raise RuntimeError("the rendered report has pages the fingerprint does not cover")
        conn.execute(
            reports.insert().values(
                report_no=report["report_no"],
                subject_id=subject_id,
                issued_at=now,
                issued_by=actor[0],
                key_id=kid,
                digest=digest,
                content=signing.canonical(report).decode(),
                pages_digest=pages,
            )
        )
        audit.append(
            conn,
            [
                AuditEntry(
                    actor[0],
                    actor[1],
                    "reports.issue",
                    f"subject:{subject_id}",
                    f"ok: {report['report_no']}, {len(report['records'])} records",
                    purpose,
                )
            ],
            now,
        )
    return Issued(report["report_no"], digest, pdf, report)
