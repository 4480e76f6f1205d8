"""The registrar's queues, the catalogue browser and the auditor's audit viewer in the console.

Pins: a queue that hides which objections are past their deadline, or shows another authority's; a catalogue
filter that silently matches nothing for a misspelt code; an audit viewer a registrar can open; a viewer or a
verification that is not itself in the log.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select, update

from factories import person_id, row
from socialcredit.catalogue import Catalogue
from socialcredit.process import file_objection
from socialcredit.registry import check_row, file_batch
from socialcredit.store.tables import audit_log

from .conftest import Console


def _records(console: Console, catalogue: Catalogue) -> list[int]:
    now = dt.datetime.now(dt.UTC)
    rows = [
        row(external_id="q-1", subject_id=person_id(41)),
        row(external_id="q-2", subject_id=person_id(43)),
        row(external_id="q-3", authority="ndrc", category="credit.key_attention", subject_id=person_id(45)),
    ]
    with console.db.engine.begin() as conn:
        outcomes = file_batch(conn, [check_row(r, catalogue, now) for r in rows], catalogue, "test", now)
        ids = [o.record_id for o in outcomes]
        for rid in ids:
            file_objection(conn, catalogue, rid, "not me", "test", now)
    return ids


def test_queue_marks_overdue_objections_and_shows_only_the_authority(
    console: Console, catalogue: Catalogue
) -> None:
    from socialcredit.store.tables import objections

    ids = _records(console, catalogue)
    with console.db.engine.begin() as conn:  # the first objection's deadline has passed
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        conn.execute(update(objections).where(objections.c.record_id == ids[0]).values(due_at=past))
    console.sign_in("alice")
    resp = console.client.get("/console/queues")
    assert resp.status_code == 200
    html = resp.text
    assert re.findall(r'data-overdue="(\d+)"', html) == ["1"]
    assert '1 <span lang="zh-Hans">逾期</span>' in html
    rows = re.findall(r"<tr(?: class=\"overdue\")?>\s*<td>(\d+)</td><td>(\d+)</td>", html)
    assert [int(r) for _, r in rows] == ids[:2]  # overdue first; ndrc's record not shown to court
    assert console.audit("console.queues")[-1][2] == "ok: 2 objections (1 overdue), 0 repair requests"


def test_an_auditor_has_no_queue(console: Console) -> None:
    console.sign_in("audrey")
    assert console.client.get("/console/queues").status_code == 403


def test_catalogue_filters_by_memorandum_measure_department_and_basis(
    console: Console, catalogue: Catalogue
) -> None:
    console.sign_in("audrey")
    every = console.client.get("/console/catalogue")
    assert every.status_code == 200
    total = len(re.findall(r"data-measure=", every.text))
    assert total == sum(len(m.measures) for m in catalogue.memoranda.values())
    memo = sorted(catalogue.memoranda.values(), key=lambda m: m.code)[0]
    one = console.client.get("/console/catalogue", params={"memorandum": memo.code})
    assert len(re.findall(r"data-measure=", one.text)) == len(memo.measures)
    measure = memo.measures[0]
    both = console.client.get(
        "/console/catalogue",
        params={"memorandum": memo.code, "measure": measure.code, "department": measure.department},
    )
    assert f'data-measure="{measure.code}"' in both.text
    basis = console.client.get("/console/catalogue", params={"legal_basis": "no such basis anywhere"})
    assert basis.status_code == 200 and "data-measure=" not in basis.text


def test_catalogue_filter_names_the_field_of_an_unknown_code(console: Console) -> None:
    console.sign_in("alice")
    for field in ("memorandum", "department"):
        resp = console.client.get("/console/catalogue", params={field: "zz-no-such"})
        assert resp.status_code == 422
        assert f'data-field="{field}">{field}: ' in resp.text
    resp = console.client.get("/console/catalogue", params={"measure": "x" * 101})
    assert resp.status_code == 422 and 'data-field="measure"' in resp.text


def test_auditor_sees_the_audit_viewer_and_a_registrar_does_not(console: Console) -> None:
    console.sign_in("alice")
    assert console.client.get("/console/audit").status_code == 403
    console.client.post("/console/logout", data={"csrf": console.csrf()})
    console.sign_in("audrey")
    resp = console.client.get("/console/audit", params={"actor": "user:alice"})
    assert resp.status_code == 200
    assert "console.sign_in" in resp.text and "console.sign_out" in resp.text
    assert console.audit("audit.query")[-1][0] == "user:audrey"
    bad = console.client.get("/console/audit", params={"since": "2025-02-30"})
    assert bad.status_code == 422 and 'data-field="since">since: ' in bad.text
    bad = console.client.get("/console/audit", params={"after": "-1"})
    assert bad.status_code == 422 and 'data-field="after"' in bad.text


def test_audit_verify_from_the_console(console: Console) -> None:
    console.sign_in("audrey")
    ok = console.client.post("/console/audit/verify", data={"csrf": console.csrf("/console/audit")})
    assert ok.status_code == 200 and 'data-verified="ok"' in ok.text
    assert console.audit("audit.verify")[-1] == ("user:audrey", "audit_log", "ok")
    with console.db.engine.begin() as conn:  # tamper with an entry
        conn.execute(update(audit_log).where(audit_log.c.seq == 1).values(outcome="edited"))
    broken = console.client.post("/console/audit/verify", data={"csrf": console.csrf("/console/audit")})
    assert broken.status_code == 409 and 'data-verified="broken"' in broken.text
    forged = console.client.post("/console/audit/verify", data={"csrf": "forged"})
    assert forged.status_code == 403


def test_registrar_decides_an_objection_from_the_queue(console: Console, catalogue: Catalogue) -> None:
    from socialcredit.store.tables import objections

    ids = _records(console, catalogue)
    with console.db.engine.connect() as conn:
        oid = conn.execute(select(objections.c.id).where(objections.c.record_id == ids[0])).scalar_one()
        theirs = conn.execute(select(objections.c.id).where(objections.c.record_id == ids[2])).scalar_one()
    console.sign_in("alice")
    token = console.csrf("/console/queues")
    for data, field in (
        ({"objection_id": "1x", "outcome": "rejected", "reason": "r"}, "objection_id"),
        ({"objection_id": str(oid), "outcome": "maybe", "reason": "r"}, "outcome"),
        ({"objection_id": str(oid), "outcome": "rejected", "reason": ""}, "reason"),
    ):
        bad = console.client.post("/console/objections/decide", data={"csrf": token, **data})
        assert bad.status_code == 422, data
        assert f'data-field="{field}">{field}: ' in bad.text
    other = console.client.post(
        "/console/objections/decide",
        data={"csrf": token, "objection_id": str(theirs), "outcome": "rejected", "reason": "not ours"},
    )
    assert other.status_code in (403, 404)  # ndrc's objection: not court's to decide
    ok = console.client.post(
        "/console/objections/decide",
        data={"csrf": token, "objection_id": str(oid), "outcome": "rejected", "reason": "the record stands"},
    )
    assert ok.status_code == 200 and f"objection {oid}" in ok.text
    with console.db.engine.connect() as conn:
        row_ = conn.execute(
            select(objections.c.status, objections.c.decided_by).where(objections.c.id == oid)
        ).one()
    assert tuple(row_) == ("rejected", "user:alice")
    assert console.audit("objections.decide")[-1] == ("user:alice", f"objection:{oid}", "ok")
    assert console.audit("objections.decide")[0][2] == "refused: 422"


def test_repair_decision_form_names_bad_fields(console: Console) -> None:
    console.sign_in("alice")
    token = console.csrf("/console/queues")
    bad = console.client.post(
        "/console/repair-requests/decide", data={"csrf": token, "request_id": "-3", "reason": "r"}
    )
    assert bad.status_code == 422 and 'data-field="request_id">request_id: ' in bad.text
    empty = console.client.post(
        "/console/repair-requests/decide", data={"csrf": token, "request_id": "7", "reason": ""}
    )
    assert empty.status_code == 422 and 'data-field="reason">reason: ' in empty.text
    gone = console.client.post(
        "/console/repair-requests/decide",
        data={"csrf": token, "request_id": "7", "approve": "yes", "reason": "r"},
    )
    assert gone.status_code == 404 and 'data-field="request_id"' in gone.text
    assert console.audit("repair.decide")[-1] == ("user:alice", "repair:7", "refused: 404")
