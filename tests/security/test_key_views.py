"""Each key sees only its own part (issue 15 section 2, decision 0310). Each test names the leak it pins; on
main every one of them leaked: a samr registrar read court and ndrc record ids and categories in its checks, a
transport.air checkpoint read every feed event whole and record ids from its monitor, admin and auditor keys
read objection grounds and repair evidence, the key list showed every resident ID, and an admin could mint a
key to anyone's file without the audit log or the subject ever naming the subject."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from factories import person_id, row
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.cli.common import cli_actor
from socialcredit.feed import HEADER, Dispatcher, verify_signature
from socialcredit.identifiers import mask
from socialcredit.keys import KeyInvalid, create_key
from socialcredit.settings import get_settings
from socialcredit.store import Database
from socialcredit.store.tables import audit_log
from test_api_helpers import ORG, OTHER, SUBJECT, Api, problem, serve

# Fields decision 0301 keeps from a checkpoint, anywhere in what it receives.
FILE_FIELDS = ("record_id", "category", "via", "via_subject", "authority", "linked", "withheld", "known")


@pytest.fixture
def api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    yield from serve(db, catalogue)


def _key(api: Api, catalogue: Catalogue, role: str, **scope: object) -> str:
    with api.db.engine.begin() as conn:
        return create_key(conn, role, catalogue, dt.datetime.now(dt.UTC), **scope)[1]  # type: ignore[arg-type]


def _file(api: Api, token: str, **fields: object) -> int:
    r = api.client.post("/v1/records", json=row(**fields), headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _keys_in(body: object) -> set[str]:
    if isinstance(body, dict):
        return set(body) | {k for v in body.values() for k in _keys_in(v)}
    if isinstance(body, list):
        return {k for v in body for k in _keys_in(v)}
    return set()


@pytest.fixture
def filed(api: Api, catalogue: Catalogue) -> dict[str, int]:
    """A court record (flight ban), an ndrc and a samr key-attention record, all about SUBJECT; a court record
    about ORG whose legal representative is OTHER."""
    ndrc = _key(api, catalogue, "registrar", authority="ndrc")
    samr = api.tokens["registrar_other"]
    court = api.tokens["registrar"]
    return {
        "court": _file(api, court),
        "ndrc": _file(api, ndrc, authority="ndrc", category="credit.key_attention", external_id="ndrc-1"),
        "samr": _file(api, samr, authority="samr", category="credit.key_attention", external_id="samr-1"),
        "org": _file(api, court, external_id="(2025)京0105执200号", subject_id=ORG, subject_name="恒信公司",
                     legal_representative_id=OTHER, legal_representative_name="李四"),
    }  # fmt: skip


# -- registrars ------------------------------------------------------------------------------------------


def test_a_registrar_sees_other_authorities_reasons_as_a_checkpoint_does(
    api: Api, filed: dict[str, int]
) -> None:
    # Leak: a samr registrar's check returned the court's record id and category, and a batch across actions
    # the ndrc's non-public key-attention record.
    h = api.headers("registrar_other")
    one = api.client.post(
        "/v1/checks", json={"subject": SUBJECT, "action": "transport.air.ticket"}, headers=h
    )
    assert one.status_code == 200 and one.json()["allowed"] is False
    (court_reason,) = one.json()["reasons"]
    assert not set(court_reason) & set(FILE_FIELDS) and court_reason["measure"]
    queries = [{"subject": SUBJECT, "action": a} for a in ("inspection.random", "transport.air.ticket")]
    batch = api.client.post("/v1/checks/batch", json={"queries": queries}, headers=h).json()
    reasons = [r for d in batch["decisions"] for r in d["reasons"]]
    assert {r.get("record_id") for r in reasons} == {filed["samr"], None}  # its own record, whole
    assert all("category" not in r for r in reasons if r.get("record_id") is None)
    assert str(filed["ndrc"]) not in json.dumps([r.get("record_id") for r in reasons])
    # The court's registrar sees its own reason whole.
    mine = api.client.post(
        "/v1/checks",
        json={"subject": SUBJECT, "action": "transport.air.ticket"},
        headers=api.headers("registrar"),
    ).json()
    assert [r["record_id"] for r in mine["reasons"]] == [filed["court"]]
    assert mine["reasons"][0]["category"] == "court.judgment_defaulter"


def test_a_registrar_reads_no_other_authoritys_record_in_a_note(
    api: Api, catalogue: Catalogue, filed: dict[str, int]
) -> None:
    # Leak: the withheld-benefits note named the black-list record's id and category for any registrar.
    sta = _key(api, catalogue, "registrar", authority="sta")
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).date().isoformat()  # a one-year grade
    red = _file(api, sta, authority="sta", category="tax.a_grade", external_id="sta-a-1", subject_id=ORG,
                subject_name="恒信公司", decided_on=yesterday)  # fmt: skip
    q = {"subject": ORG, "action": "honour.award"}
    theirs = api.client.post(
        "/v1/checks", json=q, headers={"Authorization": f"Bearer {sta}", "X-Purpose": "tax"}
    )
    assert theirs.status_code == 200, theirs.text
    body = theirs.json()
    # Its red-list reason whole; the court's honour ban as a checkpoint sees it.
    assert [(r.get("record_id"), r.get("withheld")) for r in body["reasons"]] == [(None, None), (red, True)]
    assert body["notes"] == ["red-list benefits withheld while a black-list record is in force"]
    assert str(filed["org"]) not in json.dumps(body["notes"]) and "court." not in theirs.text
    court = api.client.post("/v1/checks", json=q, headers=api.headers("registrar")).json()
    assert f"record {filed['org']} (court.judgment_defaulter)" in court["notes"][0]
    assert [r.get("record_id") for r in court["reasons"]] == [filed["org"], None]  # the tax grade reduced


# A check on transport.air takes the strictest effect under it (decision 0201), so its answer changes too.
AIR = ["transport.air", "transport.air.ticket"]


# -- checkpoints -----------------------------------------------------------------------------------------


def test_a_checkpoint_feed_carries_only_events_reaching_its_actions(api: Api, filed: dict[str, int]) -> None:
    # Leak: a transport.air checkpoint read every event, with record ids, key-attention categories and
    # linked persons.
    page = api.client.get("/v1/feed?limit=1000", headers=api.headers("checkpoint"))
    assert page.status_code == 200, page.text
    events = page.json()["events"]
    assert [e["subject_id"] for e in events] == [
        SUBJECT,
        ORG,
    ]  # the key-attention records reach no air action
    assert all(e["actions"] == AIR for e in events)
    assert not _keys_in(events) & set(FILE_FIELDS)
    assert OTHER not in page.text and "key_attention" not in page.text
    # The cursor still passes every row, so a resumed read misses nothing and repeats nothing.
    assert page.json()["next_cursor"] == page.json()["head"]
    full = api.client.get("/v1/feed?limit=1000", headers=api.headers("auditor")).json()["events"]
    assert len(full) == 4
    # An auditor follows every change, and reads no subject of it (nor a linked person's).
    assert {k for e in full for k in e} == {
        "cursor",
        "event_id",
        "record_id",
        "type",
        "category",
        "recorded_at",
    }


def test_a_checkpoint_webhook_gets_what_its_feed_read_gets(
    api: Api, filed: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Leak: a subscription from the start delivered every event whole to any checkpoint key.
    # The receiver is in process (no DNS): the delivery-time target check is switched off as for test receivers.
    monkeypatch.setenv("SOCIALCREDIT_WEBHOOK_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    hook = {"url": "http://hooks.bank.example/credit", "from_start": True}
    made = api.client.post("/v1/subscriptions", json=hook, headers=api.headers("checkpoint"))
    assert made.status_code == 201, made.text
    bodies: list[bytes] = []

    def endpoint(request: httpx.Request) -> httpx.Response:  # the bank's receiver, in process
        verify_signature(made.json()["secret"], request.headers[HEADER], request.content, time.time())
        assert "x-socialcredit-event-type" not in request.headers
        bodies.append(request.content)
        return httpx.Response(200)

    client = httpx.Client(transport=httpx.MockTransport(endpoint))
    d = Dispatcher(api.db.engine, client=client)  # the default catalogue, as the fixture's
    d.run_once()
    d.close()
    events = [json.loads(b) for b in bodies]
    assert [e["subject_id"] for e in events] == [SUBJECT, ORG]
    assert not _keys_in(events) & set(FILE_FIELDS) and all(e["actions"] == AIR for e in events)
    assert not any(OTHER.encode() in b for b in bodies)
    # Filtering on event types would tell who objects: refused.
    typed = {**hook, "types": ["objected"]}
    err = problem(api.client.post("/v1/subscriptions", json=typed, headers=api.headers("checkpoint")), 422)
    assert err["errors"][0]["loc"] == ["body", "types"]


def test_a_checkpoint_watchlist_feed_matches_only_the_record_subject(api: Api, filed: dict[str, int]) -> None:
    # Leak: watching a person returned the events of the organisation they represent, naming it.
    h = api.headers("checkpoint")
    wl = api.client.post("/v1/watchlists", json={"name": "reps"}, headers=h).json()
    api.client.put(f"/v1/watchlists/{wl['id']}/members", json={"subject_ids": [OTHER]}, headers=h)
    page = api.client.get(f"/v1/feed?watchlist={wl['id']}", headers=h)
    assert page.status_code == 200 and page.json()["events"] == [] and ORG not in page.text


def test_a_checkpoint_monitor_learns_its_actions_never_record_ids(api: Api, filed: dict[str, int]) -> None:
    # Leak: uploading ids to a monitor returned the record ids applying to each.
    h = api.headers("checkpoint")
    wl = api.client.post("/v1/watchlists", json={"name": "customers"}, headers=h).json()
    members = {"subject_ids": [SUBJECT, OTHER, person_id(77)]}
    assert api.client.put(f"/v1/watchlists/{wl['id']}/members", json=members, headers=h).status_code == 200
    mon = api.client.post(f"/v1/watchlists/{wl['id']}/monitor", headers=h)
    assert mon.status_code == 200, mon.text
    body = mon.json()
    want = [{"subject_id": s, "actions": AIR} for s in sorted([SUBJECT, OTHER])]
    assert body["hits"] == want and body["new"] == want and body["lifted"] == []
    assert not _keys_in(body) & set(FILE_FIELDS) and ORG not in mon.text
    revoked = api.client.post(
        f"/v1/records/{filed['court']}/revoke",
        json={"reason": "filed in error"},
        headers=api.headers("registrar"),
    )
    assert revoked.status_code == 200, revoked.text
    again = api.client.post(f"/v1/watchlists/{wl['id']}/monitor", headers=h).json()
    assert again["lifted"] == [{"subject_id": SUBJECT, "actions": AIR}]
    assert again["new"] == [] and not _keys_in(again) & set(FILE_FIELDS)


def test_a_checkpoint_asking_for_an_objection_gets_403(api: Api, filed: dict[str, int]) -> None:
    # Defect: the list answered 403 but the item 404, so a checkpoint could probe which ids exist.
    for oid in (1, 999):
        problem(api.client.get(f"/v1/objections/{oid}", headers=api.headers("checkpoint")), 403)


# -- admin and auditor -----------------------------------------------------------------------------------


def test_admin_and_auditor_read_no_grounds_or_evidence(api: Api, filed: dict[str, int]) -> None:
    # Leak: both roles read objection grounds and repair requests.
    body = {"grounds": "I paid in full on 2025-05-30"}
    made = api.client.post(
        f"/v1/records/{filed['court']}/objections", json=body, headers=api.headers("subject")
    )
    assert made.status_code == 201, made.text
    oid = made.json()["id"]
    for role in ("admin", "auditor"):
        for path in ("/v1/objections", f"/v1/objections/{oid}", "/v1/repair-requests"):
            resp = api.client.get(path, headers=api.headers(role))
            assert "paid in full" not in resp.text
            problem(resp, 403)
    assert api.client.get(f"/v1/objections/{oid}", headers=api.headers("subject")).status_code == 200
    assert api.client.get(f"/v1/objections/{oid}", headers=api.headers("registrar")).status_code == 200


def test_the_key_list_masks_subject_ids(api: Api) -> None:
    # Leak: GET /v1/keys listed every subject key's full resident ID.
    resp = api.client.get("/v1/keys", headers=api.headers("admin"))
    assert resp.status_code == 200
    assert SUBJECT not in resp.text and OTHER not in resp.text
    assert {k["subject"] for k in resp.json() if k["role"] == "subject"} == {mask(SUBJECT), mask(OTHER)}
    (sid,) = [k["id"] for k in resp.json() if k["subject"] == mask(OTHER)]
    revoked = api.client.post(f"/v1/keys/{sid}/revoke", headers=api.headers("admin"))
    assert revoked.status_code == 200 and revoked.json()["subject"] == mask(OTHER)


def test_issuing_a_subject_key_is_audited_and_shown_to_the_subject(api: Api, filed: dict[str, int]) -> None:
    # Trust boundary: an admin could mint a key to anyone's file, and nothing named the subject.
    made = api.client.post(
        "/v1/keys",
        json={"role": "subject", "subject": SUBJECT, "label": "counsel"},
        headers=api.headers("admin"),
    )
    assert made.status_code == 201, made.text
    new = made.json()
    found = api.client.get(
        "/v1/audit", params={"target": SUBJECT, "action": "keys.create"}, headers=api.headers("auditor")
    ).json()
    entries = found["entries"] if isinstance(found, dict) else found
    assert [e["target"] for e in entries] == [f"key:{new['id']} subject:{SUBJECT}"]
    api.client.post(f"/v1/keys/{new['id']}/revoke", headers=api.headers("admin"))
    own = api.client.get(f"/v1/subjects/{SUBJECT}", headers=api.headers("subject"))
    assert own.status_code == 200, own.text
    keys = {k["id"]: k for k in own.json()["keys"]}
    assert len(keys) == 2  # the fixture's key and the admin's
    issued = keys[new["id"]]
    assert issued["label"] == "counsel" and issued["issued_at"] == new["created_at"]
    assert issued["issued_by"] and issued["issued_by"] != "cli" and issued["revoked_at"] is not None
    assert issued["status"] == "revoked" and "token" not in json.dumps(own.json()["keys"])
    # A registrar reading the same subject learns nothing of its keys.
    theirs = api.client.get(f"/v1/subjects/{SUBJECT}", headers=api.headers("registrar")).json()
    assert theirs["keys"] is None
    # The portal's "my file" shows them.
    page = api.client.post("/portal/me", data={"token": api.tokens["subject"]})
    assert page.status_code == 200 and new["id"] in page.text and "Keys to your file" in page.text


def test_the_cli_audits_a_subject_key_naming_the_subject(db: Database) -> None:
    made = CliRunner().invoke(app, ["keys", "create", "--role", "subject", "--subject", SUBJECT, "--json"])
    assert made.exit_code == 0, made.output
    key_id = json.loads(made.output)["id"]
    with db.engine.connect() as conn:
        targets = [tuple(r) for r in conn.execute(select(audit_log.c.actor, audit_log.c.target))]
    assert targets == [(cli_actor(), f"key:{key_id} subject:{SUBJECT}")]


# -- action patterns ---------------------------------------------------------------------------------------


def test_a_trailing_glob_is_the_prefix_it_means(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    # Defect: transport.* was accepted and then covered nothing, so every check was 403.
    with db.engine.begin() as conn:
        key, _ = create_key(conn, "checkpoint", catalogue, now, actions=["transport.*", "transport.air"])
    assert key.actions == ("transport", "transport.air") and key.covers("transport.air.ticket")
    for bad in ("*", "transport*", "transport.*.ticket", "transport.air.ticket.x", "nonsense"):
        with db.engine.begin() as conn, pytest.raises(KeyInvalid) as info:
            create_key(conn, "checkpoint", catalogue, now, actions=[bad])
        assert info.value.field == "actions" and info.value.value == bad


def test_the_cli_accepts_the_glob_and_refuses_others(db: Database) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["keys", "create", "--role", "checkpoint", "--actions", "transport.*", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["actions"] == ["transport"]
    bad = runner.invoke(app, ["keys", "create", "--role", "checkpoint", "--actions", "transport*"])
    assert bad.exit_code != 0 and "only a trailing .* is a wildcard" in bad.output


def test_a_glob_key_checks_what_the_prefix_covers(
    api: Api, catalogue: Catalogue, filed: dict[str, int]
) -> None:
    token = _key(api, catalogue, "checkpoint", actions=["transport.*"])
    h = {"Authorization": f"Bearer {token}", "X-Purpose": "boarding"}
    r = api.client.post("/v1/checks", json={"subject": SUBJECT, "action": "transport.air.ticket"}, headers=h)
    assert r.status_code == 200 and r.json()["allowed"] is False
