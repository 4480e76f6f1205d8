"""Credit reports a machine can verify (issue 18 §3, decision 0605).

Pins, against today's main (which has no reports at all): a report PDF that verifies as issued; a forged
report (attachment edited, re-signed with another key, pages swapped under a genuine attachment) refused; a
repair after issue reported as a change; repaired records labelled; the five-year window; the Chinese text
present and its font embedded; bad uploads answered 4xx problem+json; the CLI's exit codes.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pypdf import PdfReader, PdfWriter
from sqlalchemy import select
from typer.testing import CliRunner

from factories import row
from process_helpers import file, food_row
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app as cli_app
from socialcredit.process import decide_repair, fulfil, request_repair
from socialcredit.reports import build_report
from socialcredit.reports.signing import canonical
from socialcredit.settings import get_settings
from socialcredit.store import Database
from socialcredit.store.tables import audit_log, reports
from test_api_helpers import ORG, SUBJECT, Api, problem, serve

runner = CliRunner()
FOOD_TITLE = "食品药品生产经营严重失信者"


@pytest.fixture
def report_env(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The report signing key of this database only (for PostgreSQL the default is var/ in the cwd)."""
    key = tmp_path / "report.key"
    monkeypatch.setenv("SOCIALCREDIT_REPORT_KEY_FILE", str(key))
    get_settings.cache_clear()
    return key


@pytest.fixture
def api(db: Database, catalogue: Catalogue, report_env: Path) -> Iterator[Api]:
    yield from serve(db, catalogue)


def _food(db: Database, catalogue: Catalogue, now: dt.datetime, **kw: Any) -> int:
    return file(db, catalogue, now, _row=food_row(subject_id=SUBJECT, subject_name="王芳", **kw))


def _download(api: Api, subject: str = SUBJECT) -> bytes:
    resp = api.client.get(f"/v1/subjects/{subject}/report", headers=api.headers("subject"))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf"
    return resp.content


def _verify(api: Api, pdf: bytes, ctype: str = "application/pdf") -> Any:
    return api.client.post("/v1/reports/verify", content=pdf, headers={"Content-Type": ctype})


def _envelope(pdf: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PdfReader(io.BytesIO(pdf)).attachments["report.json"][0])
    return data


def _reattach(pdf: bytes, envelope: bytes) -> bytes:
    """The same pages with another report.json (what a forger can do with any PDF library)."""
    reader = PdfReader(io.BytesIO(pdf))
    writer = PdfWriter()
    for page in reader.pages:
        writer.add_page(page)
    writer.add_attachment("report.json", envelope)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _text(pdf: bytes) -> str:
    return "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages)


def _repair(db: Database, catalogue: Catalogue, rid: int, now: dt.datetime) -> None:
    with db.engine.begin() as conn:
        req = request_repair(conn, catalogue, rid, "Fine paid", "I commit to comply", "k", now)
        decide_repair(conn, req["id"], True, "Conditions met", "reg", now, authority="samr")


def test_a_report_verifies_as_issued_and_is_recorded_and_audited(
    api: Api, catalogue: Catalogue, now: dt.datetime
) -> None:
    rid = _food(api.db, catalogue, now)
    pdf = _download(api)
    body = _verify(api, pdf).json()
    assert body["genuine"] is True and body["unchanged"] is True, body
    assert body["summary"] == "genuine; unchanged since issued"
    env = _envelope(pdf)
    assert [r["id"] for r in env["report"]["records"]] == [rid]
    assert env["report"]["subject"]["id"] == SUBJECT  # the subject's own report shows its identifier
    with api.db.engine.connect() as conn:
        (stored,) = conn.execute(select(reports)).mappings().all()
        actions = list(conn.execute(select(audit_log.c.action, audit_log.c.target)).all())
    assert stored["report_no"] == env["report"]["report_no"] and stored["subject_id"] == SUBJECT
    assert ("reports.issue", f"subject:{SUBJECT}") in actions
    assert ("reports.verify", f"report:{stored['report_no']}") in actions
    # The attached JSON alone verifies too.
    assert _verify(api, canonical(env), "application/json").json()["genuine"] is True


def test_only_the_subjects_own_key_gets_its_report(api: Api, catalogue: Catalogue, now: dt.datetime) -> None:
    _food(api.db, catalogue, now)
    for role in ("registrar", "registrar_other", "subject_other", "checkpoint", "auditor", "admin"):
        resp = api.client.get(f"/v1/subjects/{SUBJECT}/report", headers=api.headers(role))
        problem(resp, 403)
    problem(api.client.get(f"/v1/subjects/{SUBJECT}/report"), 401)


def test_an_edited_attachment_is_not_genuine(api: Api, catalogue: Catalogue, now: dt.datetime) -> None:
    # Attack: keep the signature, edit the record's status in report.json (a listed record "repaired").
    _food(api.db, catalogue, now)
    pdf = _download(api)
    env = _envelope(pdf)
    env["report"]["records"][0]["status"] = "repaired"
    body = _verify(api, _reattach(pdf, canonical(env))).json()
    assert body["genuine"] is False and body["summary"] == "not genuine: signature does not match"


def test_a_report_re_signed_with_another_key_is_not_genuine(
    api: Api, catalogue: Catalogue, now: dt.datetime
) -> None:
    _food(api.db, catalogue, now)
    pdf = _download(api)
    env = _envelope(pdf)
    env["report"]["records"] = []
    other = Ed25519PrivateKey.generate()
    env["signature"] = base64.b64encode(other.sign(canonical(env["report"]))).decode()
    for key_id in (env["key_id"], "0" * 16):  # claiming our key id, or another's
        env["key_id"] = key_id
        body = _verify(api, _reattach(pdf, canonical(env))).json()
        assert body["genuine"] is False and "signature does not match" in body["summary"]


def test_pages_altered_under_a_genuine_attachment_are_not_genuine(
    api: Api, catalogue: Catalogue, now: dt.datetime
) -> None:
    # Attack: show different pages (here: a report without the record) while attaching a genuine report.json.
    rid = _food(api.db, catalogue, now)
    first = _download(api)
    _repair(api.db, catalogue, rid, now + dt.timedelta(days=1))
    second = _download(api)  # pages that say "repaired"
    forged = _reattach(second, canonical(_envelope(first)))
    body = _verify(api, forged).json()
    assert body["genuine"] is False and "pages were altered" in body["summary"]
    # Attack: the genuine PDF, untouched, with a note laid over its page (an annotation a viewer draws).
    from pypdf.annotations import FreeText

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(first)))
    writer.add_annotation(0, FreeText(text="已信用修复 Repaired", rect=(50, 600, 300, 650)))
    out = io.BytesIO()
    writer.write(out)
    assert _envelope(out.getvalue()) == _envelope(first)
    body = _verify(api, out.getvalue()).json()
    assert body["genuine"] is False and "pages were altered" in body["summary"]
    assert _verify(api, first).json()["genuine"] is True


def test_a_repair_after_issue_is_reported_as_a_change(
    api: Api, catalogue: Catalogue, now: dt.datetime
) -> None:
    rid = _food(api.db, catalogue, now)
    pdf = _download(api)
    _repair(api.db, catalogue, rid, now + dt.timedelta(days=1))
    body = _verify(api, pdf).json()
    assert body["genuine"] is True and body["unchanged"] is False
    assert f"record {rid} repaired" in body["summary"]
    assert {"record": rid, "field": "status", "was": "in_force", "now": "repaired"} in body["changes"]


def test_a_repaired_record_is_labelled(api: Api, catalogue: Catalogue, now: dt.datetime) -> None:
    rid = _food(api.db, catalogue, now)
    _repair(api.db, catalogue, rid, now + dt.timedelta(days=1))
    pdf = _download(api)
    (entry,) = _envelope(pdf)["report"]["records"]
    assert entry["repaired"] is True and entry["status"] == "repaired"
    assert "已信用修复REPAIRED" in _text(pdf).replace(" ", "")


def test_records_that_ended_over_five_years_ago_are_left_out(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    old = now - dt.timedelta(days=8 * 365)
    ids = {}
    for name, ended_years in (("old", 6), ("recent", 4), ("open", None)):
        rid = file(
            db, catalogue, old, **{"external_id": f"(2018)京0105执{name}号", "decided_on": "2018-06-01"}
        )
        ids[name] = rid
        if ended_years is not None:
            with db.engine.begin() as conn:
                fulfil(conn, catalogue, rid, "paid", "test", now - dt.timedelta(days=ended_years * 365))
    with db.engine.connect() as conn:
        report = build_report(conn, catalogue, row()["subject_id"], now)
    assert sorted(r["id"] for r in report["records"]) == sorted([ids["recent"], ids["open"]])
    assert report["period"] == {"from": "2021-11-20", "to": "2026-11-20"}


def test_the_pdf_shows_chinese_in_an_embedded_font(api: Api, catalogue: Catalogue, now: dt.datetime) -> None:
    _food(api.db, catalogue, now)
    pdf = _download(api)
    text = _text(pdf)
    assert FOOD_TITLE in text and "信用报告" in text and "Credit Report" in text
    fonts = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            fonts.append(font.get_object())
    assert fonts
    for font in fonts:  # every font on every page is embedded (a TrueType subset): no viewer substitutes
        desc = font["/FontDescriptor"].get_object()
        assert "/FontFile2" in desc, font
        assert str(font["/BaseFont"]).split("+", 1)[0].isupper()  # the subset tag, e.g. AAAAAA+


def test_an_organisation_gets_the_special_purpose_report(
    db: Database, catalogue: Catalogue, report_env: Path, now: dt.datetime
) -> None:
    from socialcredit.keys import create_key

    file(db, catalogue, now, _row=food_row(subject_id=ORG, subject_name="某食品有限公司"))
    with db.engine.begin() as conn:
        token = create_key(conn, "subject", catalogue, now, subject=ORG)[1]
    for api in serve(db, catalogue):
        resp = api.client.get(f"/v1/subjects/{ORG}/report", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200, resp.text
        assert (
            "专项信用报告" in _text(resp.content) and _envelope(resp.content)["report"]["kind"] == "special"
        )


def test_bad_uploads_are_refused_with_a_problem(api: Api) -> None:
    big = b"%PDF-1.4\n" + b"0" * (2**20)
    problem(_verify(api, big), 413)
    problem(_verify(api, b"hello, not a pdf"), 422)
    problem(_verify(api, b""), 422)
    problem(_verify(api, b"%PDF-1.4\n%%EOF\n"), 422)  # a PDF that is no report
    problem(_verify(api, b'{"report": 1}', "application/json"), 422)
    problem(_verify(api, b"\xff\xfe", "application/json"), 422)
    body = problem(_verify(api, b"%PDF-1.4", "text/plain"), 415)
    assert body["errors"][0]["value"] == "text/plain"
    # Hostile envelopes: NaN (which Python's json accepts), nesting past the recursion limit, a huge number.
    for text in (
        '{"report": {"format": "socialcredit.report/1", "report_no": "x", "n": NaN}, "signature": "",'
        ' "key_id": ""}',
        "[" * 5000 + "]" * 5000,
        "9" * 5000,
    ):
        resp = _verify(api, text.encode(), "application/json")
        assert resp.status_code in (200, 422), resp.text
        assert resp.status_code == 422 or resp.json()["genuine"] is False
    # A genuine-looking PDF without the attachment, made by another program.
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    out = io.BytesIO()
    writer.write(out)
    assert "report.json" in problem(_verify(api, out.getvalue()), 422)["detail"]


def test_the_verify_page_opens_a_report_by_its_qr_code(
    api: Api, catalogue: Catalogue, now: dt.datetime
) -> None:
    rid = _food(api.db, catalogue, now)
    pdf = _download(api)
    with api.db.engine.connect() as conn:
        stored = conn.execute(select(reports)).mappings().one()
    no, d = stored["report_no"], stored["digest"][:16]
    page = api.client.get("/verify", params={"no": no, "d": d})
    assert page.status_code == 200 and "Genuine; unchanged since issued" in page.text
    # A number without its digest (or with another) opens nothing: numbers are no oracle.
    assert api.client.get("/verify", params={"no": no, "d": "0" * 16}).status_code == 404
    assert api.client.get("/verify", params={"no": no, "d": ""}).status_code == 404
    # The number is one path segment: it cannot walk the portal's API call elsewhere.
    assert api.client.get("/verify", params={"no": f"../subjects/{SUBJECT}", "d": d}).status_code == 404
    problem(api.client.get(f"/v1/reports/{no}", params={"d": "0" * 16}), 404)
    _repair(api.db, catalogue, rid, now + dt.timedelta(days=1))
    page = api.client.post("/verify", files={"report": ("r.pdf", pdf, "application/pdf")})
    assert (
        page.status_code == 200 and "Genuine; changed since issued" in page.text and "repaired" in page.text
    )
    page = api.client.post("/verify", files={"report": ("r.pdf", b"nope", "application/pdf")})
    assert page.status_code == 422 and "not a PDF" in page.text


def test_the_portal_downloads_a_subjects_own_report(api: Api, catalogue: Catalogue, now: dt.datetime) -> None:
    _food(api.db, catalogue, now)
    resp = api.client.post("/portal/report", data={"token": api.tokens["subject"]})
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/pdf"
    assert _verify(api, resp.content).json()["genuine"] is True
    assert api.client.post("/portal/report", data={"token": api.tokens["registrar"]}).status_code == 403
    assert api.client.post("/portal/report", data={"token": "sc_nope"}).status_code == 401
    assert api.client.post("/portal/report", data={"token": ""}).status_code == 422


def test_cli_create_and_verify_exit_codes(
    db: Database, catalogue: Catalogue, report_env: Path, tmp_path: Path, now: dt.datetime
) -> None:
    rid = _food(db, catalogue, now)
    out = tmp_path / "r.pdf"
    result = runner.invoke(cli_app, ["report", "create", SUBJECT, "--out", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli_app, ["report", "verify", str(out)])
    assert result.exit_code == 0 and "genuine; unchanged since issued" in result.output
    _repair(db, catalogue, rid, now + dt.timedelta(days=1))
    result = runner.invoke(cli_app, ["report", "verify", str(out)])
    assert result.exit_code == 1 and f"record {rid} repaired" in result.output
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"junk")
    assert runner.invoke(cli_app, ["report", "verify", str(junk)]).exit_code == 2
    assert runner.invoke(cli_app, ["report", "verify", str(tmp_path / "missing.pdf")]).exit_code == 3
    result = runner.invoke(cli_app, ["report", "create", ORG, "--out", str(out)])
    assert result.exit_code == 3 and "no subject" in result.stderr
