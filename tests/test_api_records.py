"""The API's behaviour per audience: filing, amending, revoking, reading, checks with data minimisation, the
public search with masking, and audit entries written with (and only with) the change."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from factories import org_id, person_id, row
from socialcredit.catalogue import Catalogue
from socialcredit.store import Database
from socialcredit.store.tables import audit_log
from test_api_helpers import ORG, OTHER, SUBJECT, Api, problem, serve


@pytest.fixture
def api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    yield from serve(db, catalogue)


CHECK = {"subject": SUBJECT, "action": "transport.air.ticket"}
FORBIDDEN_IN_CHECKPOINT_VIEW = (
    "record_id",
    "decision_no",
    "summary",
    "subject_name",
    "category",
    "via_subject",
    "known",
    "notes",
    "external_id",
)


def _audit(api: Api) -> list[dict[str, object]]:
    with api.db.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq))]


def test_file_read_amend_revoke(api: Api) -> None:
    h = api.headers("registrar")
    r = api.client.post("/v1/records", json=row(subject_id=SUBJECT, summary="hid assets"), headers=h)
    assert (
        r.status_code == 201 and r.json()["outcome"] == "filed" and r.json()["display_status"] == "in_force"
    )
    rid = r.json()["id"]
    again = api.client.post("/v1/records", json=row(subject_id=SUBJECT, summary="hid assets"), headers=h)
    assert again.status_code == 200 and again.json()["outcome"] == "unchanged" and again.json()["id"] == rid
    got = api.client.get(f"/v1/records/{rid}", headers=h).json()
    assert got["summary"] == "hid assets" and got["subject_id"] == SUBJECT
    amended = api.client.post(f"/v1/records/{rid}/amend", json={"summary": "hid assets abroad"}, headers=h)
    assert amended.status_code == 200 and amended.json()["outcome"] == "amended"
    assert (
        amended.json()["summary"] == "hid assets abroad"
        and amended.json()["decision_no"] == got["decision_no"]
    )
    # The key fields cannot be amended: a 422 naming the field.
    body = problem(api.client.post(f"/v1/records/{rid}/amend", json={"subject_id": OTHER}, headers=h), 422)
    assert body["errors"][0]["loc"] == ["body", "subject_id"]
    revoked = api.client.post(f"/v1/records/{rid}/revoke", json={"reason": "filed in error"}, headers=h)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    problem(api.client.post(f"/v1/records/{rid}/revoke", json={"reason": "again"}, headers=h), 409)
    problem(api.client.post(f"/v1/records/{rid}/amend", json={"summary": "late"}, headers=h), 409)
    problem(api.client.get("/v1/records/999", headers=h), 404)
    actions = [(e["action"], e["outcome"]) for e in _audit(api)]
    # A body the schema rejects never reaches the handler (nothing was read); refusals after that are audited.
    assert actions == [
        ("records.file", "filed"),
        ("records.file", "unchanged"),
        ("records.read", "ok"),
        ("records.amend", "amended"),
        ("records.revoke", "revoked"),
        ("records.revoke", "refused: 409"),
        ("records.amend", "refused: 409"),
        ("records.read", "refused: 404"),
    ]


def test_invalid_filing_stores_nothing_not_even_audit_of_success(api: Api) -> None:
    before = api.counts()
    body = problem(
        api.client.post(
            "/v1/records", json=row(subject_id="110105198001010111"), headers=api.headers("registrar")
        ),
        422,
    )
    assert (
        body["errors"][0]["loc"] == ["body", "subject_id"]
        and "check character" in body["errors"][0]["reason"]
    )
    after = api.counts()
    assert {k: after[k] - before[k] for k in after} == {
        "records": 0,
        "record_events": 0,
        "outbox": 0,
        "audit_log": 1,
    }
    assert _audit(api)[-1]["outcome"] == "refused: 422"


def test_a_lone_surrogate_is_refused_by_name_not_a_server_error(api: Api) -> None:
    """A JSON escape such as \\ud800 alone is no character: refused as bad input for its field, the value shown
    escaped (it cannot be encoded in the response otherwise), nothing stored."""
    before = api.counts()
    text = json.dumps(row(external_id="R-\ud800"))  # ensure_ascii: the escape, as a client would send it
    headers = {**api.headers("registrar"), "content-type": "application/json"}
    body = problem(api.client.post("/v1/records", content=text, headers=headers), 422)
    assert body["errors"][0]["loc"] == ["body", "external_id"]
    assert "unicode" in body["errors"][0]["reason"], body
    assert body["errors"][0]["value"] == "R-\\ud800"
    after = api.counts()
    assert after["records"] == before["records"] and after["record_events"] == before["record_events"]


def test_checkpoint_gets_the_decision_not_the_file(api: Api) -> None:
    org_row = row(
        external_id="org-1",
        subject_id=ORG,
        subject_name="某某有限公司",
        legal_representative_id=SUBJECT,
        legal_representative_name="王芳",
        summary="secret summary",
    )
    assert api.client.post("/v1/records", json=org_row, headers=api.headers("registrar")).status_code == 201
    r = api.client.post("/v1/checks", json=CHECK, headers=api.headers("checkpoint"))
    d = r.json()
    assert r.status_code == 200 and d["allowed"] is False and d["effects"] == ["deny"]
    assert set(d) == {
        "subject",
        "action",
        "as_of",
        "allowed",
        "effects",
        "reasons",
        "catalogue_version",
        "reference",
    }
    assert set(d["reasons"][0]) == {
        "memorandum",
        "measure",
        "department",
        "effect",
        "legal_basis",
        "valid_until",
    }
    text = r.text
    for secret in (ORG, "某某有限公司", "secret summary", org_row["decision_no"]):
        assert secret not in text
    for key in FORBIDDEN_IN_CHECKPOINT_VIEW:
        assert f'"{key}"' not in text
    # The registrar sees the whole Decision, with the record and the organisation it came through.
    full = api.client.post("/v1/checks", json=CHECK, headers=api.headers("registrar")).json()
    assert full["reasons"][0]["record_id"] == 1 and full["reasons"][0]["via_subject"] == ORG
    # The batch view is minimised the same way and keeps the query order.
    other = {"subject": OTHER, "action": "transport.air.ticket"}
    b = api.client.post(
        "/v1/checks/batch", json={"queries": [CHECK, other]}, headers=api.headers("checkpoint")
    )
    assert [x["allowed"] for x in b.json()["decisions"]] == [False, True]
    assert ORG not in b.text and '"record_id"' not in b.text
    entries = _audit(api)
    assert [e["action"] for e in entries[-3:]] == ["checks.single", "checks.single", "checks.batch"]
    assert entries[-3]["purpose"] == "test purpose" and entries[-3]["outcome"] == "denied"
    assert d["reference"] == entries[-3]["seq"]
    assert json.loads(str(entries[-1]["target"])) == sorted([SUBJECT, OTHER])


def test_check_sees_writes_of_another_process_within_refresh(api: Api, catalogue: object) -> None:
    import datetime as dt
    import time

    from socialcredit.registry import check_row, file_batch

    assert (
        api.client.post("/v1/checks", json=CHECK, headers=api.headers("checkpoint")).json()["allowed"] is True
    )
    now = dt.datetime.now(dt.UTC)
    with api.db.engine.begin() as conn:  # as another process would: straight to the store
        file_batch(conn, [check_row(row(subject_id=SUBJECT), catalogue, now)], catalogue, "elsewhere", now)  # type: ignore[arg-type]
    # The poller applies it within REFRESH_EVERY (0.2 s) plus the refresh itself; allow for a loaded machine.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if (
            api.client.post("/v1/checks", json=CHECK, headers=api.headers("checkpoint")).json()["allowed"]
            is False
        ):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the other process's filing never reached the index")


def test_subject_views(api: Api) -> None:
    api.client.post("/v1/records", json=row(subject_id=SUBJECT), headers=api.headers("registrar"))
    mine = api.client.get(f"/v1/subjects/{SUBJECT}", headers=api.headers("subject", purpose=None))
    assert mine.status_code == 200 and mine.json()["name"] == "王芳" and len(mine.json()["records"]) == 1
    recs = api.client.get(f"/v1/subjects/{SUBJECT}/records", headers=api.headers("subject", purpose=None))
    assert [r["id"] for r in recs.json()] == [1]
    reg = api.client.get(f"/v1/subjects/{SUBJECT}", headers=api.headers("registrar"))
    assert reg.status_code == 200 and reg.json()["records"][0]["authority"] == "court"
    problem(api.client.get(f"/v1/subjects/{person_id(99)}", headers=api.headers("registrar")), 404)
    body = problem(api.client.get("/v1/subjects/123", headers=api.headers("registrar")), 422)
    assert body["errors"][0]["loc"] == ["path", "subject_id"]
    assert [(e["action"], e["outcome"]) for e in _audit(api)][1:] == [
        ("subjects.view", "ok: 1 records"),
        ("subjects.records", "ok: 1 records"),
        ("subjects.view", "ok: 1 records"),
        ("subjects.view", "refused: 404"),
    ]


def test_public_search_masks_and_minimises(api: Api) -> None:
    h = api.headers("registrar")
    api.client.post("/v1/records", json=row(subject_id=SUBJECT, summary="private"), headers=h)
    samr = api.headers("registrar_other")
    watched = row(
        external_id="w1",
        authority="samr",
        category="credit.key_attention",
        subject_id=OTHER,
        subject_name="李四",
        effective_until="2026-12-31",
    )
    assert api.client.post("/v1/records", json=watched, headers=samr).status_code == 201
    r = api.client.get("/v1/public/search", params={"q": "王芳"})
    hits = r.json()["results"]
    assert len(hits) == 1 and hits[0]["id"] == SUBJECT[:6] + "*" * 11 + SUBJECT[-1]
    assert SUBJECT not in r.text and "19800101" not in r.text and "private" not in r.text
    assert hits[0]["records"][0]["decision_no"] == row()["decision_no"]  # published under SPC art. 6
    # Exact identifier search; a category that is not public is never shown.
    assert len(api.client.get("/v1/public/search", params={"q": SUBJECT}).json()["results"]) == 1
    assert api.client.get("/v1/public/search", params={"q": "李四"}).json()["results"] == []
    assert api.client.get("/v1/public/search", params={"q": "%_"}).json()["results"] == []
    # Revoked: gone from public view.
    api.client.post("/v1/records/1/revoke", json={"reason": "x"}, headers=h)
    assert api.client.get("/v1/public/search", params={"q": "王芳"}).json()["results"] == []
    problem(api.client.get("/v1/public/search", params={"q": "王芳", "page": 6}), 422)


def test_public_search_pages_are_bounded(api: Api) -> None:
    h = api.headers("registrar")
    for i in range(25):
        assert (
            api.client.post(
                "/v1/records",
                json=row(external_id=f"e{i}", subject_id=person_id(100 + i), subject_name=f"张三{i:02d}"),
                headers=h,
            ).status_code
            == 201
        )
    p1 = api.client.get("/v1/public/search", params={"q": "张三"}).json()
    assert p1["page_size"] == 20 and len(p1["results"]) == 20 and p1["has_more"] is True
    p2 = api.client.get("/v1/public/search", params={"q": "张三", "page": 2}).json()
    assert len(p2["results"]) == 5 and p2["has_more"] is False
    assert not {x["name"] for x in p1["results"]} & {x["name"] for x in p2["results"]}


def test_public_rate_limit(db: object, catalogue: object) -> None:
    from fastapi.testclient import TestClient

    from socialcredit.api import create_app
    from socialcredit.settings import Settings

    app = create_app(db, catalogue, Settings(public_rate_limit=3))  # type: ignore[arg-type]
    with TestClient(app) as client:
        codes = [client.get("/v1/public/search", params={"q": "王芳"}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/reconcile")
        problem(limited, 429)
        assert int(limited.headers["retry-after"]) >= 1
        assert client.get("/healthz").status_code == 200  # not a public data endpoint


def test_keys_over_the_api(api: Api) -> None:
    h = api.headers("admin")
    r = api.client.post(
        "/v1/keys", json={"role": "checkpoint", "actions": ["transport.rail"], "expires_in": "30d"}, headers=h
    )
    assert r.status_code == 201 and r.json()["token"].startswith("sc_")
    token = r.json()["token"]
    listed = api.client.get("/v1/keys", headers=h).json()
    assert token not in json.dumps(listed) and any(k["id"] == r.json()["id"] for k in listed)
    body = problem(api.client.post("/v1/keys", json={"role": "checkpoint"}, headers=h), 422)
    assert body["errors"][0]["loc"] == ["body", "actions"]
    problem(api.client.post("/v1/keys", json={"role": "registrar", "authority": "nobody"}, headers=h), 422)
    problem(api.client.post("/v1/keys/ffffffffffffffff/revoke", headers=h), 404)
    rail = {"subject": SUBJECT, "action": "transport.rail.g_train.ticket"}
    hc = {"Authorization": f"Bearer {token}", "X-Purpose": "ticket sale"}
    assert api.client.post("/v1/checks", json=rail, headers=hc).json()["allowed"] is True


def test_org_records_reach_legal_representative_view(api: Api) -> None:
    org_row = row(
        external_id="org-2",
        subject_id=org_id(7),
        subject_name="某公司",
        legal_representative_id=SUBJECT,
        legal_representative_name="王芳",
    )
    api.client.post("/v1/records", json=org_row, headers=api.headers("registrar"))
    # The legal representative sees the record that reaches them.
    mine = api.client.get("/v1/records/1", headers=api.headers("subject", purpose=None))
    assert mine.status_code == 200 and mine.json()["subject_id"] == org_id(7)


def test_nothing_is_answered_or_written_unaudited(api: Api) -> None:
    from sqlalchemy import text

    assert (
        api.client.post(
            "/v1/records", json=row(subject_id=SUBJECT), headers=api.headers("registrar")
        ).status_code
        == 201
    )
    before = api.counts()
    with api.db.engine.begin() as conn:  # the audit log becomes unwritable
        conn.execute(text("ALTER TABLE audit_log RENAME TO audit_log_away"))
    try:
        refused = api.client.post("/v1/checks", json=CHECK, headers=api.headers("checkpoint"))
        body = problem(refused, 503)
        assert "allowed" not in body and "audit" in body["detail"]
        assert (
            refused.headers["retry-after"] == "2"
        )  # a hint to come back, not a bare refusal (decision 1104)
        problem(
            api.client.post("/v1/checks/batch", json={"queries": [CHECK]}, headers=api.headers("checkpoint")),
            503,
        )
        # Reads and writes fail whole (503 when the database reports it unavailable, else a bare 500).
        for resp in (
            api.client.get("/v1/records/1", headers=api.headers("registrar")),
            api.client.post("/v1/records/1/revoke", json={"reason": "x"}, headers=api.headers("registrar")),
            api.client.post(
                "/v1/records", json=row(external_id="new", subject_id=OTHER), headers=api.headers("registrar")
            ),
        ):
            assert "internal error" in problem(resp, resp.status_code)["detail"] or resp.status_code == 503
            assert resp.status_code in (500, 503)
    finally:
        with api.db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_log_away RENAME TO audit_log"))
    assert api.counts() == before  # the revocation and the filing were rolled back with their audit entries


def test_metrics_and_health(api: Api) -> None:
    api.client.post("/v1/records", json=row(subject_id=SUBJECT), headers=api.headers("registrar"))
    api.client.post("/v1/checks", json=CHECK, headers=api.headers("checkpoint"))
    health = api.client.get("/healthz").json()
    assert health["status"] == "ok" and health["last_seq"] == 1
    text = api.client.get("/metrics").text
    assert 'socialcredit_checks_total{outcome="denied"} 1.0' in text
    assert 'socialcredit_http_requests_total{method="POST",route="/v1/checks",status="200"} 1.0' in text
    assert "socialcredit_http_request_seconds_bucket" in text
    spec = api.client.get("/openapi.json").json()
    assert {
        "/v1/records",
        "/v1/checks",
        "/v1/checks/batch",
        "/v1/public/search",
        "/v1/audit",
        "/reconcile",
        "/healthz",
    } <= set(spec["paths"])
    check_doc = spec["paths"]["/v1/checks"]["post"]
    assert check_doc["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CheckQuery")
    assert {"401", "403", "422"} <= set(check_doc["responses"])


def test_audit_writer_survives_abandoned_requests(db: Database) -> None:
    import asyncio

    from socialcredit.api.state import AuditWriter
    from socialcredit.audit import AuditEntry

    writer = AuditWriter(db.engine)
    try:
        first = writer.submit(AuditEntry("k", "checkpoint", "checks.single", SUBJECT, "allowed", "p"))
        first.cancel()  # as asyncio.wrap_future does when the waiting request is cancelled
        assert (
            asyncio.run(writer.record(AuditEntry("k", "checkpoint", "checks.single", OTHER, "allowed", "p")))
            >= 1
        )
    finally:
        writer.close()


def test_revoking_an_expired_record_is_409(api: Api) -> None:
    # Defect pinned: a record past its end (swept to `expired` or not yet) was revoked with 200; docs/api.md
    # says 409 once a record has ended, and nothing may be written.
    from socialcredit.api.deps import utcnow
    from socialcredit.process import expire_due

    h = api.headers("registrar")
    ended = row(category="court.judgment_defaulter_conduct", decided_on="2020-01-01")  # 730 days: ended 2022
    rid = api.client.post("/v1/records", json=ended, headers=h).json()["id"]
    assert api.client.get(f"/v1/records/{rid}", headers=h).json()["display_status"] == "expired"
    body = problem(api.client.post(f"/v1/records/{rid}/revoke", json={"reason": "late"}, headers=h), 409)
    assert "expired" in body["detail"]
    expire_due(api.db.engine, utcnow())  # and once the sweep has marked it
    problem(api.client.post(f"/v1/records/{rid}/revoke", json={"reason": "late"}, headers=h), 409)
    assert api.client.get(f"/v1/records/{rid}", headers=h).json()["status"] == "expired"
