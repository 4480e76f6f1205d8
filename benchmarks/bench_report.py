"""Credit report PDF: issuing one subject's report end to end (content from the registry, Ed25519 signature,
the reports row and its audit entry, rendering with the embedded CJK font subset, the QR code and the attached
JSON), against the goal of 300 ms (issue 18 §3).

Subject: a person with 5 judgment-defaulter records (each followed by about 45 joint measures, so the report is
several pages: a heavy report). Figure: median of N issues, warm (the font is registered once per process, as
in a server; the first report of a process is reported apart). Same-run baselines: a one-page reportlab PDF in
Helvetica (a floor for any PDF), and the same report's pages alone (no database, signature or attachment).
Also: verifying the report (signature, registry row, page fingerprint, records compared with the registry).

    .venv/bin/python benchmarks/bench_report.py [--quick]
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from socialcredit.catalogue import default_catalogue
from socialcredit.registry import check_row, file_batch
from socialcredit.reports import issue_report, parse_upload, verify_envelope
from socialcredit.reports.pdf import render_pages
from socialcredit.settings import Settings
from socialcredit.store import Database, upgrade

SUBJECT = "110105198001010112"


def _median_ms(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _minimal_pdf() -> bytes:
    from reportlab.pdfgen.canvas import Canvas

    buf = io.BytesIO()
    c = Canvas(buf, invariant=1)
    c.drawString(72, 720, "Credit report")
    c.showPage()
    c.save()
    return buf.getvalue()


def main(argv: list[str]) -> int:
    n = 5 if "--quick" in argv else 30
    tmp = Path(tempfile.mkdtemp(prefix="bench-report-"))
    url = f"sqlite:///{tmp / 'r.db'}"
    db = Database.open(url)
    upgrade(db.engine)
    cat = default_catalogue()
    settings = Settings(database_url=url, report_key_file=str(tmp / "report.key"))
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "external_id": f"(2025)京0105执{i}号",
            "authority": "court",
            "category": "court.judgment_defaulter",
            "subject_id": SUBJECT,
            "subject_name": "王芳",
            "decision_no": f"(2024)京0105民初{i}号",
            "decided_on": "2025-06-01",
        }
        for i in range(5)
    ]
    with db.engine.begin() as conn:
        file_batch(conn, [check_row(r, cat, now) for r in rows], cat, "bench", now)

    def issue() -> bytes:
        return issue_report(db, cat, settings, SUBJECT, ("bench", "admin"), dt.datetime.now(dt.UTC)).pdf

    start = time.perf_counter()
    pdf = issue()
    first_ms = (time.perf_counter() - start) * 1000
    issue_ms = _median_ms(issue, n)
    pdf = issue()
    upload = parse_upload(pdf, "application/pdf")
    report = upload.envelope["report"]
    pages_ms = _median_ms(lambda: render_pages(report, "http://127.0.0.1:8000/verify", "sig"), n)
    minimal_ms = _median_ms(_minimal_pdf, n)
    verify_ms = _median_ms(
        lambda: verify_envelope(
            db, cat, settings, parse_upload(pdf, "application/pdf"), dt.datetime.now(dt.UTC)
        ),
        max(3, n // 3),
    )
    from pypdf import PdfReader

    page_count = len(PdfReader(io.BytesIO(pdf)).pages)
    print(
        f"cpu: {platform.processor() or platform.machine()}, nproc {os.cpu_count()}, python {sys.version.split()[0]}"
    )
    print(f"report: {len(report['records'])} records, {page_count} pages, {len(pdf)} bytes")
    print(f"  issue (content, sign, store, audit, render, attach): {issue_ms:7.1f} ms median of {n}")
    print(f"  first report of the process (registers the font):    {first_ms:7.1f} ms")
    print(f"  baseline: the same pages only:                       {pages_ms:7.1f} ms")
    print(f"  baseline: one-page Helvetica PDF:                    {minimal_ms:7.1f} ms")
    print(f"  verify (signature, row, pages fingerprint, records): {verify_ms:7.1f} ms")
    print(
        json.dumps(
            {
                "figure": "report PDF issue time (5 records, median)",
                "value": round(issue_ms, 1),
                "baseline": round(minimal_ms, 1),
                "goal": 300,
                "unit": "ms",
                "command": "python benchmarks/bench_report.py",
                "pages_only_ms": round(pages_ms, 1),
                "first_ms": round(first_ms, 1),
                "verify_ms": round(verify_ms, 1),
                "pages": page_count,
                "bytes": len(pdf),
            }
        )
    )
    db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
