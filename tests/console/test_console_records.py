"""A registrar files and revokes through the console's forms: the records endpoint's own code and audit.

Pins: a form path that bypassed the API's checks (a malformed identifier, an unknown category, an impossible
date or another authority's category stored anyway, or stored half-written), and errors that do not say which
field was wrong.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from factories import person_id, row
from socialcredit.catalogue import Catalogue
from socialcredit.keys import create_key
from socialcredit.store.tables import audit_log, record_events, records

from .conftest import Console

SUBJECT = person_id(31)


def _form(**overrides: str) -> dict[str, str]:
    base = {k: v for k, v in row(subject_id=SUBJECT, subject_name="张伟").items() if k != "authority"}
    return {**base, **overrides}


def _file(console: Console, **overrides: str) -> tuple[int, str]:
    resp = console.client.post("/console/records", data={"csrf": console.csrf(), **_form(**overrides)})
    return resp.status_code, resp.text


def _stored(console: Console) -> tuple[int, int]:
    with console.db.engine.connect() as conn:
        return (
            int(conn.execute(select(func.count()).select_from(records)).scalar_one()),
            int(conn.execute(select(func.count()).select_from(record_events)).scalar_one()),
        )


def _check(console: Console, catalogue: Catalogue) -> bool:
    with console.db.engine.begin() as conn:
        _, token = create_key(
            conn, "checkpoint", catalogue, dt.datetime.now(dt.UTC), actions=["transport.air"]
        )
    body = {"subject": SUBJECT, "action": "transport.air.ticket"}
    resp = console.client.post(
        "/v1/checks", json=body, headers={"Authorization": f"Bearer {token}", "X-Purpose": "boarding"}
    )
    assert resp.status_code == 200, resp.text
    return bool(resp.json()["allowed"])


def test_registrar_files_through_the_form_and_a_check_is_then_denied(
    console: Console, catalogue: Catalogue
) -> None:
    console.sign_in("alice")
    assert _check(console, catalogue) is True
    status, html = _file(console)
    assert status == 201, html
    assert "filed" in html
    assert _check(console, catalogue) is False
    ((actor, target, outcome),) = [(a, t, o) for a, t, o in console.audit("records.file")]
    assert actor == "user:alice" and target.endswith(f"subject:{SUBJECT}") and outcome == "filed"
    with console.db.engine.connect() as conn:
        assert conn.execute(select(record_events.c.actor)).scalar_one() == "user:alice"
    status, html = _file(console, summary="更正摘要")  # same reference again: an amendment
    assert status == 200 and "amended" in html


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("subject_id", "11010519800101011X", "subject_id"),  # malformed: wrong check digit
        ("subject_id", "<script>", "subject_id"),
        ("category", "court.no_such_category", "category"),
        ("decided_on", "2025-02-30", "decided_on"),  # impossible date
        ("decided_on", "tomorrow", "decided_on"),
        ("effective_until", "2019-01-01", "effective_until"),  # before the decision
    ],
)
def test_bad_field_is_named_inline_and_nothing_is_stored(
    console: Console, field: str, value: str, reason: str
) -> None:
    console.sign_in("alice")
    status, html = _file(console, **{field: value})
    assert status == 422, html
    m = re.search(rf'<span class="field-error" id="e-{field}" data-field="{field}">([^<]*)</span>', html)
    assert m is not None, html[html.find("<form") :][:3000]
    assert m.group(1).startswith(f"{reason}:")
    assert 'aria-invalid="true"' in html
    assert _stored(console) == (0, 0)
    # The refusal is audited as the API audits one, under the user.
    assert console.audit("records.file")[-1][0] == "user:alice"
    assert console.audit("records.file")[-1][2] == "refused: 422"


def test_a_category_of_another_authority_is_refused(console: Console) -> None:
    console.sign_in("ned")  # ndrc may not file court categories
    status, html = _file(console)
    assert status == 422 and "may not file category" in html
    assert _stored(console) == (0, 0)
    assert console.audit("records.file")[-1] == (
        "user:ned",
        "external:ndrc/" + row()["external_id"],
        "refused: 403",
    )


def test_revoke_through_the_form(console: Console, catalogue: Catalogue) -> None:
    console.sign_in("alice")
    assert _file(console)[0] == 201
    with console.db.engine.connect() as conn:
        rid = conn.execute(select(records.c.id)).scalar_one()
    token = console.csrf("/console/records/new")
    bad = console.client.post(
        "/console/records/revoke", data={"csrf": token, "record_id": "12abc", "reason": "x"}
    )
    assert bad.status_code == 422 and 'data-field="record_id">record_id: ' in bad.text
    empty = console.client.post(
        "/console/records/revoke", data={"csrf": token, "record_id": str(rid), "reason": ""}
    )
    assert empty.status_code == 422 and 'data-field="reason">reason: ' in empty.text
    missing = console.client.post(
        "/console/records/revoke", data={"csrf": token, "record_id": "999", "reason": "x"}
    )
    assert missing.status_code == 404
    ok = console.client.post(
        "/console/records/revoke", data={"csrf": token, "record_id": str(rid), "reason": "filed in error"}
    )
    assert ok.status_code == 200 and f"record {rid}" in ok.text
    assert _check(console, catalogue) is True
    assert console.audit("records.revoke")[-1] == ("user:alice", f"record:{rid} subject:{SUBJECT}", "revoked")


def test_another_authority_cannot_revoke_and_learns_nothing(console: Console) -> None:
    console.sign_in("alice")
    assert _file(console)[0] == 201
    with console.db.engine.connect() as conn:
        rid = conn.execute(select(records.c.id)).scalar_one()
    console.client.post("/console/logout", data={"csrf": console.csrf()})
    console.sign_in("ned")
    resp = console.client.post(
        "/console/records/revoke", data={"csrf": console.csrf(), "record_id": str(rid), "reason": "mine now"}
    )
    assert resp.status_code == 404 and "张伟" not in resp.text


def test_an_auditor_may_not_file(console: Console) -> None:
    console.sign_in("audrey")
    assert console.client.get("/console/records/new").status_code == 403
    resp = console.client.post("/console/records", data={"csrf": console.csrf(), **_form()})
    assert resp.status_code == 403 and _stored(console) == (0, 0)
    with console.db.engine.connect() as conn:
        assert (
            conn.execute(
                select(func.count()).select_from(audit_log).where(audit_log.c.action == "records.file")
            ).scalar_one()
            == 0
        )


def test_bodies_that_are_not_a_form_store_nothing(console: Console) -> None:
    console.sign_in("alice")
    token = console.csrf()
    as_json = console.client.post("/console/records", json={"csrf": token, **_form()})
    assert as_json.status_code == 403  # no form, so no token: a cross-site JSON post cannot file
    huge = console.client.post("/console/records", data={"csrf": token, **_form(summary="x" * 70_000)})
    assert huge.status_code == 413
    raw = console.client.post(
        "/console/records",
        content=b"csrf=" + token.encode() + b"&subject_name=\xff\xfe",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert raw.status_code == 400
    big_id = console.client.post(
        "/console/records/revoke", data={"csrf": token, "record_id": "9" * 40, "reason": "x"}
    )
    assert big_id.status_code == 422 and 'data-field="record_id"' in big_id.text
    assert _stored(console) == (0, 0)


def test_console_pages_are_local_only_and_not_in_the_openapi_schema(console: Console) -> None:
    console.sign_in("alice")
    html = console.client.get("/console/records/new").text
    assert 'name="viewport" content="width=device-width' in html
    assert re.findall(r'(?:src|href)="(https?:)?//', html) == []
    assert 'lang="zh-Hans"' in html and "File a record" in html
    paths = console.client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/console")]
    assert console.client.get("/static/console.css").status_code == 200


def test_amend_through_the_form(console: Console) -> None:
    console.sign_in("alice")
    assert _file(console)[0] == 201
    with console.db.engine.connect() as conn:
        rid = conn.execute(select(records.c.id)).scalar_one()
    token = console.csrf("/console/records/new")
    bad = console.client.post(
        "/console/records/amend", data={"csrf": token, "record_id": str(rid), "decided_on": "2025-13-01"}
    )
    assert bad.status_code == 422 and 'data-field="decided_on">decided_on: ' in bad.text
    assert _stored(console) == (1, 1)
    ok = console.client.post(
        "/console/records/amend",
        data={"csrf": token, "record_id": str(rid), "decision_no": "(2024)京0105民初101号"},
    )
    assert ok.status_code == 200 and f"record {rid} (amended)" in ok.text
    assert _stored(console) == (1, 2)
    assert console.audit("records.amend")[-1] == ("user:alice", f"record:{rid} subject:{SUBJECT}", "amended")
    gone = console.client.post(
        "/console/records/amend", data={"csrf": token, "record_id": "999", "summary": "x"}
    )
    assert gone.status_code == 404 and 'data-field="record_id"' in gone.text
