"""The report as a PDF: every label in Chinese and English, the CJK font embedded (a subset), a QR code that
opens the verification page, and the signed JSON attached (``report.json``) for machines.

``pages_fingerprint`` digests what the pages draw: each page's size, its content stream and the fonts it uses
(the embedded font program, its widths and its text map: a forged font can draw other glyphs for the same
codes). It is stored with the issued report, so a verifier tells pages altered after issue without rendering
again (and without depending on this renderer staying the same). Pages carrying anything else a viewer draws
(annotations, images or forms, which could lay other text over ours) get no fingerprint and never match.
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from ..timefmt import parse_iso_for_people
from ..web.labels import LISTS as _LISTS
from ..web.labels import STATUSES as _STATUSES  # one wording of statuses and lists for pages and reports
from .fonts import ensure_font

__all__ = ["ATTACHMENT", "pages_fingerprint", "render_pages", "render_pdf", "verify_url"]

ATTACHMENT = "report.json"

_TITLES = {
    "special": ("专项信用报告", "Special-Purpose Credit Report"),
    "personal": ("信用报告", "Credit Report"),
}
_EFFECTS = {
    "deny": ("禁止", "denied"),
    "restrict": ("限制", "restricted"),
    "review": ("审查", "extra review"),
}
_EFFECTS["expedite"] = ("便利", "expedited")
_ROLES = {
    "subject": ("本主体", "the subject"),
    "legal_representative": ("法定代表人", "as legal representative"),
    "actual_controller": ("实际控制人", "as actual controller"),
}


def verify_url(base: str, report_no: str, digest: str) -> str:
    return f"{base.rstrip('/')}/verify?{urlencode({'no': report_no, 'd': digest[:16]})}"


def _p(text: str) -> str:
    return escape(text)


def _qr_flowable(url: str, size: float) -> Any:
    """The QR code as vector squares (no image: nothing but text and fills on the page)."""
    import segno
    from reportlab.platypus import Flowable

    matrix = [list(row) for row in segno.make(url, error="m").matrix]

    class QR(Flowable):  # type: ignore[misc]
        def wrap(self, *_: Any) -> tuple[float, float]:
            return size, size

        def draw(self) -> None:
            cell = size / len(matrix)
            canvas = self.canv
            canvas.setFillColorRGB(0, 0, 0)
            for i, row in enumerate(matrix):
                for j, dark in enumerate(row):
                    if dark:
                        canvas.rect(j * cell, size - (i + 1) * cell, cell, cell, stroke=0, fill=1)

    return QR()


def _story(report: dict[str, Any], styles: dict[str, Any], url: str) -> list[Any]:
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

    body, small, head, title = styles["body"], styles["small"], styles["head"], styles["title"]
    zh, en = _TITLES.get(report["kind"], _TITLES["personal"])
    subject = report["subject"]
    out: list[Any] = [Paragraph(_p(f"{zh}  {en}"), title), Spacer(1, 4)]

    def line(zh_label: str, en_label: str, value: str, style: Any = body) -> None:
        out.append(Paragraph(f"{_p(zh_label)} {_p(en_label)}: {_p(value)}", style))

    line("报告编号", "Report no.", report["report_no"])
    line("出具时间", "Issued at", parse_iso_for_people(report["issued_at"]))
    period = report["period"]
    line("报告期间", "Period", f"{period['from']} – {period['to']}（近五年 last five years）")
    line("主体名称", "Subject", subject["name"])
    line("主体标识", "Identifier", subject["id"])
    kind = {"organisation": "法人和非法人组织 Organisation", "person": "自然人 Person"}
    line("主体类型", "Kind", kind.get(subject["kind"], subject["kind"]))
    line("目录版本", "Catalogue version", report["catalogue_version"], small)
    if report["kind"] == "special":
        out.append(
            Paragraph(
                _p(
                    "本报告可替代有无违法违规记录证明。"
                    "This report stands in for a certificate of no violations."
                ),
                small,
            )
        )
    # The header beside the QR code, then the records over the whole width.
    qr = 30 * mm
    table = Table([[out, _qr_flowable(url, qr)]], colWidths=[174 * mm - qr - 4 * mm, qr + 4 * mm])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("FONTNAME", (0, 0), (-1, -1), body.fontName),  # else the cell opens in Helvetica
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("ALIGN", (1, 0), (1, 0), "RIGHT"),
            ]
        )
    )
    out = [table]
    records = report["records"]
    out.append(Spacer(1, 6))
    if not records:
        out.append(
            Paragraph(
                _p("报告期内，本主体无失信记录。No dishonesty record about this subject in the period."), head
            )
        )
    else:
        out.append(Paragraph(_p(f"记录 Records: {len(records)}"), head))
    for r in records:
        out.append(Spacer(1, 6))
        szh, sen = _STATUSES.get(r["status"], (r["status"], r["status"]))
        label = f"【{szh} {sen}】" if not r["repaired"] else f"【已信用修复 REPAIRED {_day(r['ended_at'])}】"
        out.append(Paragraph(_p(f"{label} {r['category_title']} / {r['category_title_en']}"), head))
        lzh, len_ = _LISTS.get(r["list"] or "", ("", ""))
        if lzh:
            line("名单", "List", f"{lzh} / {len_}")
        rzh, ren = _ROLES.get(r["role"], (r["role"], r["role"]))
        line("记录号", "Record", f"{r['id']}（{rzh} {ren}）")
        auth = r["authority_name"] + (f" / {r['authority_name_en']}" if r["authority_name_en"] else "")
        line("认定机关", "Authority", auth)
        line("决定文书号", "Decision no.", r["decision_no"])
        line("决定日期", "Decided on", r["decided_on"])
        if r["legal_basis"]:
            line("认定依据", "Legal basis", r["legal_basis"])
        if r["summary"]:
            line("失信事实", "Facts", r["summary"])
        until = r["last_day"] or "无固定期限 no fixed end"
        line("有效期", "In force", f"{r['applies_from']} – {until}")
        line("状态", "Status", f"{szh} / {sen}")
        if r["measures"]:
            out.append(Paragraph(_p("联合惩戒措施 Measures that follow:"), body))
            for m in r["measures"]:
                ezh, een = _EFFECTS.get(m["effect"], (m["effect"], m["effect"]))
                dept = f"{m['department_name']}: " if m["department"] else ""
                out.append(Paragraph(_p(f"• {dept}{m['title']}（{ezh} {een}）"), small))
        obj = r["objection"]
        if obj:
            unit = "个工作日 working days" if obj["working_days"] else "日 days"
            text = f"自公示之日起 {obj['days']} {unit}内可向认定机关提出异议 Object to the authority within"
            text += f" {obj['days']} {'working days' if obj['working_days'] else 'days'} of notice"
            if obj["reconsideration"]:
                text += "；可申请复核 reconsideration may be sought"
            line("异议", "Objection", text, small)
        rep = r["repair"]
        if rep and not r["repaired"]:
            if rep["possible"]:
                text = f"{rep['from']} 起可申请信用修复 Credit repair may be sought from {rep['from']}"
            elif rep["ends_by_fulfilment"]:
                text = "履行义务后移出 Removed once the obligation is fulfilled"
            else:
                text = "期满移出 Removed when its period ends"
            if rep["removal"]:
                text += f"。{rep['removal']}"
            line("信用修复", "Repair", text, small)
    out.append(Spacer(1, 10))
    out.append(
        Paragraph(
            _p(
                "核验 Verify: 扫描二维码或访问 scan the QR code or open "
                f"{url}；或 or `socialcredit report verify FILE`。"
                "本报告附有签名的机器可读内容 (report.json, Ed25519)。"
                "The signed machine-readable content is attached."
            ),
            small,
        )
    )
    return out


def _day(value: str | None) -> str:
    return parse_iso_for_people(value)[:10] if value else ""


def render_pages(report: dict[str, Any], url: str, signature_line: str) -> bytes:
    """The report's pages (no attachment), deterministic for one report and URL."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    font = ensure_font()
    base = {"fontName": font, "bulletFontName": font, "wordWrap": "CJK"}
    styles = {
        "title": ParagraphStyle("title", fontSize=17, leading=22, **base),
        "head": ParagraphStyle("head", fontSize=11.5, leading=15, **base),
        "body": ParagraphStyle("body", fontSize=9.5, leading=13, **base),
        "small": ParagraphStyle("small", fontSize=8, leading=10.5, leftIndent=8, **base),
    }
    no = report["report_no"]

    def decorate(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 7.5)
        canvas.drawString(18 * mm, 10 * mm, f"{no}  第 {doc.page} 页 Page {doc.page}")
        canvas.setFont(font, 5.8)  # the whole signature fits the line
        canvas.drawString(18 * mm, 6.5 * mm, signature_line)
        canvas.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=14 * mm,
        bottomMargin=16 * mm,
        title=f"{_TITLES.get(report['kind'], _TITLES['personal'])[0]} {no}",
        author="socialcredit",
        invariant=1,
        initialFontName=font,  # the canvas starts in the report font: no unembedded Helvetica is referenced
    )
    doc.build(_story(report, styles, url), onFirstPage=decorate, onLaterPages=decorate)
    return buf.getvalue()


def pages_fingerprint(pdf: bytes) -> str | None:
    """A digest of what the PDF's pages draw, or None for pages that carry more than text in our fonts."""
    import hashlib

    from pypdf import PdfReader
    from pypdf.generic import IndirectObject

    def font_digest(font: Any) -> bytes:
        f = hashlib.sha256()
        for key in sorted(font.keys()):  # encoding, widths, first char: whatever maps codes to glyphs
            if key not in ("/FontDescriptor", "/ToUnicode"):
                f.update(str(key).encode() + repr(font[key]).encode())
        if "/ToUnicode" in font:
            f.update(b"U" + font["/ToUnicode"].get_object().get_data())
        desc = font.get("/FontDescriptor")
        program = desc.get_object().get("/FontFile2") if desc is not None else None
        f.update(b"P" + (program.get_object().get_data() if program is not None else b""))
        return f.digest()

    seen: dict[int, bytes] = {}  # pages share fonts: each font program is inflated and hashed once
    h = hashlib.sha256()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        if "/Annots" in page:
            return None
        resources: Any = page.get("/Resources")
        resources = resources.get_object() if isinstance(resources, IndirectObject) else resources
        if resources is None or set(resources.keys()) - {"/Font", "/ProcSet"}:
            return None
        h.update(repr([float(v) for v in page.mediabox]).encode())
        contents = page.get_contents()
        h.update(b"C" + (contents.get_data() if contents is not None else b""))
        fonts: Any = resources.get("/Font")
        for name, ref in sorted((fonts.get_object() if fonts is not None else {}).items()):
            key = ref.idnum if isinstance(ref, IndirectObject) else -1
            digest = seen.get(key) if key >= 0 else None
            if digest is None:
                digest = font_digest(ref.get_object())
                if key >= 0:
                    seen[key] = digest
            h.update(b"F" + str(name).encode() + digest)
    return h.hexdigest()


def render_pdf(report: dict[str, Any], envelope: bytes, url: str, signature_line: str) -> bytes:
    """The report's pages with the signed envelope attached as ``report.json``."""
    from pypdf import PdfReader, PdfWriter

    pages = render_pages(report, url, signature_line)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pages)))
    writer.add_attachment(ATTACHMENT, envelope)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
