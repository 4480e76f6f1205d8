"""Evidence files (decision 0615) as an attacker sees them, on both databases: who can read them (the subject
and the registrar handling the step, nobody else), another subject's record, CSRF, oversized bodies (by
``Content-Length`` and streamed), and types decided by magic bytes, not names or declared types."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from selfservice_helpers import MAX_BYTES, PDF, Self, serve
from socialcredit.catalogue import Catalogue
from socialcredit.store import Database


@pytest.fixture
def me(db: Database, catalogue: Catalogue) -> Iterator[Self]:
    yield from serve(db, catalogue)


def _bearer(me: Self, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {me.tokens[who]}", "X-Purpose": "objection review"}


def _objection_with_evidence(me: Self) -> tuple[int, int]:
    """The subject objects on the portal with a PDF; returns (objection id, evidence id)."""
    from selfservice_helpers import csrf_of

    csrf = csrf_of(me.client.post("/portal/me", data={"token": me.tokens["subject"]}).text)
    resp = me.post(
        "/portal/me/objection",
        {"csrf": csrf, "record_id": str(me.records["court"]), "grounds": "见附件"},
        ("proof.pdf", PDF, "application/pdf"),
    )
    assert resp.status_code == 200, resp.text
    [obj] = me.client.get("/v1/objections", headers=_bearer(me, "subject")).json()["objections"]
    listed = me.client.get("/v1/evidence", params={"objection_id": obj["id"]}, headers=_bearer(me, "subject"))
    [item] = listed.json()["evidence"]
    assert item["sha256"] == hashlib.sha256(PDF).hexdigest() and item["size"] == len(PDF)
    me.client.cookies.clear()
    return int(obj["id"]), int(item["id"])


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("subject", 200),
        ("court", 200),  # the registrar the objection is addressed to
        ("other", 404),  # another subject: as if it did not exist
        ("samr", 404),  # a registrar of another authority
        ("court_higher", 404),  # the parent court decides reconsiderations, not this objection
        ("checkpoint", 403),
        ("auditor", 403),
        ("admin", 403),
        (None, 401),
    ],
)
def test_who_can_read_evidence(me: Self, who: str | None, status: int) -> None:
    oid, eid = _objection_with_evidence(me)
    headers = _bearer(me, who) if who else {}
    resp = me.client.get(f"/v1/evidence/{eid}", headers=headers)
    assert resp.status_code == status, resp.text
    if status == 200:
        assert resp.content == PDF and resp.headers["content-type"] == "application/pdf"
        assert resp.headers["x-content-sha256"] == hashlib.sha256(PDF).hexdigest()
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert "attachment" in resp.headers["content-disposition"]
    else:
        assert PDF not in resp.content
    listed = me.client.get("/v1/evidence", params={"objection_id": oid}, headers=headers)
    if status == 200:
        assert len(listed.json()["evidence"]) == 1
    elif status == 404:
        assert listed.status_code == 200 and listed.json()["evidence"] == []
    else:
        assert listed.status_code == status


def test_every_evidence_read_is_audited(me: Self) -> None:
    _, eid = _objection_with_evidence(me)
    me.client.get(f"/v1/evidence/{eid}", headers=_bearer(me, "court"))
    me.client.get(f"/v1/evidence/{eid}", headers=_bearer(me, "samr"))
    reads = [o for a, o in me.audit_actions() if a == "evidence.read"]
    assert reads == ["ok", "refused: 404"]


def test_another_subject_cannot_fetch_evidence_on_the_portal(me: Self) -> None:
    _, eid = _objection_with_evidence(me)
    me.client.post("/portal/me", data={"token": me.tokens["other"]})
    resp = me.client.get(f"/portal/me/evidence/{eid}")
    assert resp.status_code == 404 and PDF not in resp.content
    assert me.client.get("/portal/me/evidence/99999999999999999999999").status_code == 404
    me.client.cookies.clear()
    assert me.client.get(f"/portal/me/evidence/{eid}").status_code == 401


def test_objecting_to_another_subjects_record_writes_nothing(me: Self) -> None:
    from selfservice_helpers import csrf_of

    csrf = csrf_of(me.client.post("/portal/me", data={"token": me.tokens["subject"]}).text)
    before = me.counts()
    for path, fields in (
        ("/portal/me/objection", {"grounds": "x"}),
        ("/portal/me/repair", {"evidence": "x", "commitment": "y"}),
    ):
        resp = me.post(
            path,
            {"csrf": csrf, "record_id": str(me.records["other"]), **fields},
            ("p.pdf", PDF, "application/pdf"),
        )
        assert resp.status_code == 404 and "周芷若" not in resp.text
    assert me.counts() == before


def test_csrf_from_another_session_is_forged(me: Self) -> None:
    from selfservice_helpers import csrf_of

    theirs = csrf_of(me.client.post("/portal/me", data={"token": me.tokens["other"]}).text)
    me.client.cookies.clear()
    me.client.post("/portal/me", data={"token": me.tokens["subject"]})
    before = me.counts()
    resp = me.post(
        "/portal/me/objection", {"csrf": theirs, "record_id": str(me.records["court"]), "grounds": "x"}
    )
    assert resp.status_code == 403 and "forged" in resp.text and me.counts() == before


def test_a_cross_site_post_without_the_cookie_is_not_signed_in(me: Self) -> None:
    before = me.counts()
    resp = me.post(
        "/portal/me/objection", {"csrf": "x", "record_id": str(me.records["court"]), "grounds": "x"}
    )
    assert resp.status_code == 401 and me.counts() == before


def test_streamed_oversized_body_is_cut_off(me: Self) -> None:
    from selfservice_helpers import csrf_of

    csrf = csrf_of(me.client.post("/portal/me", data={"token": me.tokens["subject"]}).text)
    boundary = "XyZ"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n%PDF-"
    ).encode()

    def chunks() -> Iterator[bytes]:  # no Content-Length: only the streamed count can stop it
        yield head
        for _ in range(200):
            yield b"0" * 1024

    before = me.counts()
    resp = me.client.post(
        "/portal/me/objection",
        content=chunks(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert resp.status_code == 413 and f"larger than {MAX_BYTES} bytes" in resp.text
    assert me.counts() == before


@pytest.mark.parametrize(
    ("name", "content", "declared"),
    [
        ("proof.pdf", b"<html><script>alert(1)</script>%PDF-", "application/pdf"),  # a name is not a type
        ("image.png", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png"),
        ("a.gif", b"GIF89a" + b"\x00" * 20, "image/gif"),
        ("a.exe", b"MZ\x90\x00" + b"\x00" * 20, "application/pdf"),
        ("x.pdf", b" %PDF-1.4", "application/pdf"),  # the signature must be at the start
    ],
)
def test_type_is_decided_by_magic_bytes(me: Self, name: str, content: bytes, declared: str) -> None:
    from selfservice_helpers import csrf_of

    csrf = csrf_of(me.client.post("/portal/me", data={"token": me.tokens["subject"]}).text)
    before = me.counts()
    resp = me.post(
        "/portal/me/objection",
        {"csrf": csrf, "record_id": str(me.records["court"]), "grounds": "x"},
        (name, content, declared),
    )
    assert resp.status_code == 422 and "not a PDF, JPEG or PNG" in resp.text and "file" in resp.text
    assert "<script>alert(1)" not in resp.text
    assert me.counts() == before


def test_a_hostile_filename_is_shown_as_a_plain_label(me: Self) -> None:
    from selfservice_helpers import csrf_of

    csrf = csrf_of(me.client.post("/portal/me", data={"token": me.tokens["subject"]}).text)
    resp = me.post(
        "/portal/me/objection",
        {"csrf": csrf, "record_id": str(me.records["court"]), "grounds": "x"},
        ('../../etc/<img src=x onerror=alert(1)>".pdf', PDF, "application/pdf"),
    )
    assert resp.status_code == 200
    assert "<img src=x" not in resp.text and "../" not in resp.text.split("evidence")[-1]


def test_non_multipart_and_malformed_bodies_are_refused(me: Self) -> None:
    me.client.post("/portal/me", data={"token": me.tokens["subject"]})
    before = me.counts()
    resp = me.client.post("/portal/me/objection", data={"grounds": "x"})
    assert resp.status_code == 415 and "multipart/form-data" in resp.text
    resp = me.client.post(
        "/portal/me/objection",
        content=b"garbage",
        headers={"Content-Type": "multipart/form-data; boundary=zz"},
    )
    assert resp.status_code in (400, 403) and resp.status_code < 500
    assert me.counts() == before


@pytest.mark.parametrize("bad", ["0", "-1", "abc", str(2**63)])
def test_evidence_ids_out_of_range_are_not_5xx(me: Self, bad: str) -> None:
    resp = me.client.get(f"/v1/evidence/{bad}", headers=_bearer(me, "court"))
    assert resp.status_code == 422
