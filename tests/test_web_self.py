"""Subject self-service on the portal (issue 18 point 2), on both databases: sign in with a subject key, the
whole own file with objections and repair requests (status, deadlines, overdue marks, evidence with its
digest), online objection and repair forms with an evidence upload, bad input answered on the form, sign-out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator

import pytest
from sqlalchemy import update

from selfservice_helpers import JPEG, MAX_BYTES, PDF, PNG, SUBJECT, Self, csrf_of, serve
from socialcredit.catalogue import Catalogue
from socialcredit.store import Database
from socialcredit.store.tables import objections
from test_web import _text


@pytest.fixture
def me(db: Database, catalogue: Catalogue) -> Iterator[Self]:
    yield from serve(db, catalogue)


def test_sign_in_sets_a_strict_httponly_session_cookie_not_the_token(me: Self) -> None:
    resp = me.client.post("/portal/me", data={"token": me.tokens["subject"]})
    assert resp.status_code == 200
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith("sc_portal=") and me.tokens["subject"] not in cookie
    for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/portal"):
        assert flag.lower() in cookie.lower()
    assert me.tokens["subject"] not in resp.text
    page = me.client.get("/portal/me")  # the session now opens the file without the key
    assert page.status_code == 200 and SUBJECT in page.text and "Sign out" in page.text
    assert page.headers["cache-control"] == "no-store"


def test_file_lists_records_and_keys_issued(me: Self) -> None:
    me.sign_in()
    text = _text(me.client.get("/portal/me").text)
    assert "赵敏" in text and "(2024)京0105民初100号" in text and "京市监罚〔2025〕1号" in text
    assert "Keys to your file" in text  # the key it signed in with is listed


def test_objection_with_pdf_evidence_is_filed_with_its_digest_and_due_date(me: Self) -> None:
    csrf = me.sign_in()
    rid = me.records["court"]
    resp = me.post(
        "/portal/me/objection",
        {"csrf": csrf, "record_id": str(rid), "grounds": "已全部履行，见附件"},
        ("receipt.pdf", PDF, "application/pdf"),
    )
    assert resp.status_code == 200, resp.text
    text = _text(resp.text)
    assert "Objection filed" in text and "decision due by" in text and "应于此前作出决定" in text
    assert hashlib.sha256(PDF).hexdigest() in text and "receipt.pdf" in text and "application/pdf" in text
    assert ("objections.file", "ok") in me.audit_actions()
    # The same objection through the API: the same process code (pending, due in 15 days for courts).
    api = me.client.get("/v1/objections", headers={"Authorization": f"Bearer {me.tokens['subject']}"}).json()
    [obj] = api["objections"]
    assert obj["status"] == "pending" and obj["record_id"] == rid
    filed = dt.datetime.fromisoformat(obj["filed_at"])
    assert dt.datetime.fromisoformat(obj["due_at"]) - filed <= dt.timedelta(days=16)
    # The file shows the subject's own evidence back, byte for byte.
    link = resp.text.split('href="/portal/me/evidence/', 1)[1].split('"', 1)[0]
    got = me.client.get(f"/portal/me/evidence/{link}")
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["x-content-sha256"] == hashlib.sha256(PDF).hexdigest()


def test_repair_request_with_image_evidence_has_a_ten_working_day_deadline(me: Self) -> None:
    csrf = me.sign_in()
    resp = me.post(
        "/portal/me/repair",
        {
            "csrf": csrf,
            "record_id": str(me.records["food"]),
            "evidence": "整改完毕，罚款已缴",
            "commitment": "今后守法经营",
        },
        ("photo.jpg", JPEG, "image/jpeg"),
    )
    assert resp.status_code == 200, resp.text
    assert "Repair request filed" in resp.text and hashlib.sha256(JPEG).hexdigest() in resp.text
    api = me.client.get(
        "/v1/repair-requests", headers={"Authorization": f"Bearer {me.tokens['subject']}"}
    ).json()
    [req] = api["repair_requests"]
    filed, due = dt.datetime.fromisoformat(req["filed_at"]), dt.datetime.fromisoformat(req["due_at"])
    assert dt.timedelta(days=12) <= due - filed <= dt.timedelta(days=25) and req["overdue"] is False
    assert ("repair.request", "ok") in me.audit_actions()


def test_overdue_objection_is_marked_on_the_file(me: Self) -> None:
    csrf = me.sign_in()
    me.post("/portal/me/objection", {"csrf": csrf, "record_id": str(me.records["court"]), "grounds": "错误"})
    past = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    with me.db.engine.begin() as conn:
        conn.execute(update(objections).values(due_at=past))
    text = _text(me.client.get("/portal/me").text)
    assert "Overdue" in text and "已逾期" in text and "2026-01-05" in text


def test_png_evidence_is_accepted_by_its_bytes_whatever_its_name(me: Self) -> None:
    csrf = me.sign_in()
    resp = me.post(
        "/portal/me/objection",
        {"csrf": csrf, "record_id": str(me.records["court"]), "grounds": "见截图"},
        ("screenshot.txt", PNG, "text/plain"),
    )
    assert resp.status_code == 200 and "image/png" in resp.text


@pytest.mark.parametrize(
    ("fields", "file", "status", "needle"),
    [
        ({"grounds": ""}, None, 422, "grounds"),
        (
            {"grounds": "x"},
            ("a.pdf", b"MZ\x90\x00 not a pdf", "application/pdf"),
            422,
            "not a PDF, JPEG or PNG",
        ),
        ({"grounds": "x"}, ("a.pdf", b"%PDF-" + b"0" * MAX_BYTES, "application/pdf"), 413, "larger than"),
        ({"grounds": "x", "record_id": "nope"}, None, 422, "record_id"),
    ],
)
def test_bad_objection_input_is_answered_on_the_form_and_writes_nothing(
    me: Self, fields: dict[str, str], file: tuple[str, bytes, str] | None, status: int, needle: str
) -> None:
    csrf = me.sign_in()
    before = me.counts()
    body = {"csrf": csrf, "record_id": str(me.records["court"]), **fields}
    resp = me.post("/portal/me/objection", body, file)
    assert resp.status_code == status, resp.text
    assert needle in resp.text and 'role="alert"' in resp.text
    assert me.counts() == before


def test_a_record_not_ones_own_is_404_and_writes_nothing(me: Self) -> None:
    csrf = me.sign_in()
    before = me.counts()
    resp = me.post(
        "/portal/me/objection", {"csrf": csrf, "record_id": str(me.records["other"]), "grounds": "x"}
    )
    assert resp.status_code == 404 and "record_id" in resp.text and "周芷若" not in resp.text
    assert 'role="alert"' in resp.text
    assert me.counts() == before


def test_a_second_pending_repair_request_is_refused_on_the_form(me: Self) -> None:
    csrf = me.sign_in()
    fields = {"csrf": csrf, "record_id": str(me.records["food"]), "evidence": "paid", "commitment": "ok"}
    assert me.post("/portal/me/repair", fields).status_code == 200
    before = me.counts()
    resp = me.post("/portal/me/repair", fields)
    assert (
        resp.status_code == 409 and 'role="alert"' in resp.text and "already has repair request" in resp.text
    )
    assert me.counts() == before


def test_oversized_body_is_refused_by_its_length_before_reading(me: Self) -> None:
    csrf = me.sign_in()
    before = me.counts()
    big = b"%PDF-" + b"0" * (MAX_BYTES + 70 * 1024)
    resp = me.post(
        "/portal/me/objection",
        {"csrf": csrf, "record_id": str(me.records["court"]), "grounds": "x"},
        ("big.pdf", big, "application/pdf"),
    )
    assert resp.status_code == 413 and "file" in resp.text and f"larger than {MAX_BYTES} bytes" in resp.text
    assert me.counts() == before


@pytest.mark.parametrize("token", ["", "forged-token"])
def test_missing_or_forged_csrf_is_refused_and_audited(me: Self, token: str) -> None:
    me.sign_in()
    before = me.counts()
    resp = me.post(
        "/portal/me/objection", {"csrf": token, "record_id": str(me.records["court"]), "grounds": "x"}
    )
    assert resp.status_code == 403 and "csrf" in resp.text
    assert ("missing" if not token else "forged") in resp.text
    assert me.counts() == before
    assert any(a == "portal.csrf" for a, _ in me.audit_actions())


def test_sign_out_ends_the_session_and_a_replayed_cookie_opens_nothing(me: Self) -> None:
    csrf = me.sign_in()
    cookie = me.client.cookies.get("sc_portal")
    assert cookie
    resp = me.client.post("/portal/me/sign-out", data={"csrf": csrf}, follow_redirects=False)
    assert resp.status_code == 303 and "sc_portal" in resp.headers["set-cookie"]
    me.client.cookies.clear()
    me.client.cookies.set("sc_portal", cookie)  # a copy taken before sign-out, replayed
    page = me.client.get("/portal/me")
    assert "Sign in and open my file" in page.text and SUBJECT not in page.text
    before = me.counts()
    replay = me.post(
        "/portal/me/objection", {"csrf": csrf, "record_id": str(me.records["court"]), "grounds": "x"}
    )
    assert replay.status_code == 401 and me.counts() == before


def test_sign_out_needs_the_csrf_token(me: Self) -> None:
    me.sign_in()
    resp = me.client.post("/portal/me/sign-out", data={"csrf": "nope"}, follow_redirects=False)
    assert resp.status_code == 403
    assert me.client.get("/portal/me").text.count("Sign out") >= 1  # still signed in


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site", "Origin": "null"}],
)
def test_a_cross_site_sign_in_is_refused(me: Self, headers: dict[str, str]) -> None:
    resp = me.client.post("/portal/me", data={"token": me.tokens["subject"]}, headers=headers)
    assert resp.status_code == 403 and "set-cookie" not in resp.headers


def test_revoking_the_key_ends_the_session(me: Self) -> None:
    me.sign_in()
    key_id = me.tokens["subject"].split("_")[1]
    admin = {"Authorization": f"Bearer {me.tokens['admin']}"}
    assert me.client.post(f"/v1/keys/{key_id}/revoke", headers=admin).status_code in (200, 204)
    assert "Sign in and open my file" in me.client.get("/portal/me").text


def test_pages_are_bilingual_and_fit_a_narrow_screen(me: Self) -> None:
    html = me.client.get("/portal/me").text
    assert (
        "登录并查看档案" in html
        and "Sign in and open my file" in html
        and "<script" not in html.split("</head>")[1]
    )
    csrf = me.sign_in()
    html = me.client.get("/portal/me").text
    assert "在线提出异议" in html and "Object online" in html and 'enctype="multipart/form-data"' in html
    assert csrf_of(html) == csrf
    css = me.client.get("/static/portal.css").text
    assert ".digest" in css and "overflow-wrap: anywhere" in css
