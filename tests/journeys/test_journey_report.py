"""Journey (d), issue 18 point 6: a subject downloads its signed credit report from the portal, the /verify
page says it is genuine and unchanged, and a copy whose attached report.json was edited is refused."""

from __future__ import annotations

import io
import json
from pathlib import Path

from playwright.sync_api import BrowserContext
from pypdf import PdfReader, PdfWriter

from socialcredit.reports.signing import canonical

from .axe import assert_accessible
from .conftest import World
from .shots import Shots


def _tampered(pdf: bytes) -> bytes:
    """The same pages with the record in report.json marked repaired (what anyone can do with a PDF library)."""
    reader = PdfReader(io.BytesIO(pdf))
    envelope = json.loads(reader.attachments["report.json"][0])
    envelope["report"]["records"][0]["status"] = "repaired"
    writer = PdfWriter()
    for p in reader.pages:
        writer.add_page(p)
    writer.add_attachment("report.json", canonical(envelope))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_downloaded_report_verifies_and_a_tampered_copy_is_refused(
    world: World, context: BrowserContext, shots: Shots, tmp_path: Path
) -> None:
    page = context.new_page()
    page.goto(world.url + "/verify")
    shots(page, "verify-page")
    page.fill("#report-token", world.tokens["subject"])
    with page.expect_download() as info:
        page.click("form[action='/portal/report'] button[type=submit]")
    download = info.value
    assert download.suggested_filename.endswith(".pdf"), download.suggested_filename
    pdf_path = tmp_path / "report.pdf"
    download.save_as(pdf_path)
    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert "王芳" in "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages)

    page.goto(world.url + "/verify")
    page.set_input_files("#report", str(pdf_path))
    shots(page, "report-chosen")
    page.click("form[action='/verify'] button[type=submit]")
    verdict = page.inner_text("#verdict-h")
    assert "真实报告；出具以来无变化" in verdict and "Genuine; unchanged since issued" in verdict
    shots(page, "report-genuine")
    assert_accessible(page, "a genuine report's verdict")

    forged = tmp_path / "report-tampered.pdf"
    forged.write_bytes(_tampered(pdf))
    page.goto(world.url + "/verify")
    page.set_input_files("#report", str(forged))
    page.click("form[action='/verify'] button[type=submit]")
    verdict = page.inner_text("#verdict-h")
    assert "不是真实报告" in verdict and "Not genuine" in verdict
    assert "signature does not match" in page.inner_text("main")
    shots(page, "tampered-refused")
    assert_accessible(page, "a tampered report's verdict")
