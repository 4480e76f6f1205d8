"""Due process and the feed over HTTP: who may object, decide, reconsider, repair and fulfil; the pull feed,
subscriptions and watchlists, each owned by its key; every refusal a problem document."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from factories import person_id, row
from socialcredit.catalogue import Catalogue
from socialcredit.keys import create_key
from socialcredit.store import Database
from test_api_helpers import OTHER, SUBJECT, Api, problem, serve


@pytest.fixture
def api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    for a in serve(db, catalogue):
        with db.engine.begin() as conn:
            now = dt.datetime.now(dt.UTC)
            a.tokens["registrar_higher"] = create_key(
                conn, "registrar", catalogue, now, authority="court_higher"
            )[1]
            a.tokens["checkpoint_other"] = create_key(
                conn, "checkpoint", catalogue, now, actions=["finance"]
            )[1]
        yield a


def _record(api: Api, **kw: str) -> int:
    r = api.client.post(
        "/v1/records", json=row(**{"subject_id": SUBJECT, **kw}), headers=api.headers("registrar")
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_objection_decision_and_reconsideration_by_role(api: Api) -> None:
    rid = _record(api)
    body = {"grounds": "I paid on 1 November", "counsel": "张律师"}
    problem(
        api.client.post(f"/v1/records/{rid}/objections", json=body, headers=api.headers("registrar")), 403
    )
    problem(
        api.client.post(f"/v1/records/{rid}/objections", json=body, headers=api.headers("subject_other")), 404
    )
    problem(
        api.client.post(
            f"/v1/records/{rid}/objections", json={"grounds": ""}, headers=api.headers("subject")
        ),
        422,
    )
    r = api.client.post(f"/v1/records/{rid}/objections", json=body, headers=api.headers("subject"))
    assert r.status_code == 201 and r.json()["status"] == "pending" and r.json()["counsel"] == "张律师"
    oid = r.json()["id"]
    problem(api.client.post(f"/v1/records/{rid}/objections", json=body, headers=api.headers("subject")), 409)
    listed = api.client.get("/v1/objections?status=pending", headers=api.headers("registrar")).json()
    assert [o["id"] for o in listed["objections"]] == [oid]
    assert api.client.get("/v1/objections", headers=api.headers("registrar_other")).json()["objections"] == []
    assert api.client.get(f"/v1/objections/{oid}", headers=api.headers("subject")).status_code == 200
    problem(api.client.get(f"/v1/objections/{oid}", headers=api.headers("subject_other")), 404)
    decision = {"outcome": "rejected", "reason": "No proof of payment"}
    problem(
        api.client.post(
            f"/v1/objections/{oid}/decision", json=decision, headers=api.headers("registrar_other")
        ),
        403,
    )
    problem(api.client.post(f"/v1/objections/{oid}/decision", json={"outcome": "upheld", "reason": "x"},
                            headers=api.headers("registrar")), 422)  # fmt: skip
    r = api.client.post(f"/v1/objections/{oid}/decision", json=decision, headers=api.headers("registrar"))
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    r = api.client.post(
        f"/v1/objections/{oid}/reconsideration", json={"grounds": "bank slip"}, headers=api.headers("subject")
    )
    assert r.status_code == 201 and r.json()["authority"] == "court_higher"
    rec = r.json()["id"]
    upheld = {"outcome": "upheld", "reason": "The slip is genuine", "revoke": True}
    problem(
        api.client.post(f"/v1/objections/{rec}/decision", json=upheld, headers=api.headers("registrar")), 403
    )
    r = api.client.post(
        f"/v1/objections/{rec}/decision", json=upheld, headers=api.headers("registrar_higher")
    )
    assert r.status_code == 200 and r.json()["remedy"] == "revoked"
    got = api.client.get(f"/v1/records/{rid}", headers=api.headers("registrar")).json()
    assert got["status"] == "revoked"


def test_repair_and_fulfil_by_role(api: Api) -> None:
    rid = _record(api)
    body = {"evidence": "Paid in full", "commitment": "I will perform future judgments"}
    problem(
        api.client.post(f"/v1/records/{rid}/repair-requests", json=body, headers=api.headers("checkpoint")),
        403,
    )
    r = api.client.post(f"/v1/records/{rid}/repair-requests", json=body, headers=api.headers("subject"))
    assert r.status_code == 201, r.text
    req = r.json()["id"]
    mine = api.client.get("/v1/repair-requests", headers=api.headers("subject")).json()["repair_requests"]
    assert [m["id"] for m in mine] == [req]
    assert (
        api.client.get("/v1/repair-requests", headers=api.headers("subject_other")).json()["repair_requests"]
        == []
    )
    problem(api.client.post(f"/v1/repair-requests/{req}/decision", json={"approve": True, "reason": "ok"},
                            headers=api.headers("registrar_other")), 403)  # fmt: skip
    approve = {"approve": True, "reason": "Order 36 met"}
    r = api.client.post(f"/v1/repair-requests/{req}/decision", json=approve, headers=api.headers("registrar"))
    assert r.status_code == 200 and r.json()["status"] == "approved"
    check = {"subject": SUBJECT, "action": "transport.air.ticket"}
    assert (
        api.client.post("/v1/checks", json=check, headers=api.headers("checkpoint")).json()["allowed"] is True
    )
    other = _record(api, external_id="(2025)京0105执101号", subject_id=OTHER)
    problem(
        api.client.post(
            f"/v1/records/{other}/fulfil", json={"reason": "paid"}, headers=api.headers("registrar_other")
        ),
        403,
    )
    r = api.client.post(
        f"/v1/records/{other}/fulfil", json={"reason": "paid"}, headers=api.headers("registrar")
    )
    assert r.status_code == 200 and r.json()["status"] == "fulfilled"
    problem(
        api.client.post(
            f"/v1/records/{other}/fulfil", json={"reason": "paid"}, headers=api.headers("registrar")
        ),
        409,
    )


def test_feed_subscriptions_and_watchlists_belong_to_their_key(api: Api) -> None:
    problem(api.client.get("/v1/feed", headers=api.headers("subject")), 403)
    problem(api.client.get("/v1/feed", headers=api.headers("checkpoint", purpose=None)), 422)
    problem(api.client.get("/v1/feed?after=x", headers=api.headers("checkpoint")), 422)
    _record(api)
    _record(api, external_id="(2025)京0105执102号", subject_id=person_id(55))
    page = api.client.get("/v1/feed?limit=1", headers=api.headers("checkpoint")).json()
    # A checkpoint reads its own form of the feed (decision 0310): whose answer changed, never the record.
    assert [e["subject_id"] for e in page["events"]] == [SUBJECT] and "record_id" not in page["events"][0]
    rest = api.client.get(f"/v1/feed?after={page['next_cursor']}", headers=api.headers("checkpoint")).json()
    assert len(rest["events"]) == 1 and rest["next_cursor"] == rest["head"]
    wl = api.client.post(
        "/v1/watchlists", json={"name": "customers"}, headers=api.headers("checkpoint")
    ).json()
    bad = api.client.put(f"/v1/watchlists/{wl['id']}/members", json={"subject_ids": [SUBJECT, "nope"]},
                         headers=api.headers("checkpoint"))  # fmt: skip
    assert problem(bad, 422)["errors"][0]["loc"] == ["body", "subject_ids", 1]
    r = api.client.put(
        f"/v1/watchlists/{wl['id']}/members",
        json={"subject_ids": [SUBJECT]},
        headers=api.headers("checkpoint"),
    )
    assert r.json()["members"] == 1
    problem(api.client.get(f"/v1/watchlists/{wl['id']}", headers=api.headers("checkpoint_other")), 404)
    only = api.client.get(f"/v1/feed?watchlist={wl['id']}", headers=api.headers("checkpoint")).json()
    assert [e["subject_id"] for e in only["events"]] == [SUBJECT]
    mon = api.client.post(f"/v1/watchlists/{wl['id']}/monitor", headers=api.headers("checkpoint")).json()
    assert [h["subject_id"] for h in mon["new"]] == [SUBJECT] and "record_id" not in mon["new"][0]
    hook = {"url": "http://hooks.invalid/hook", "watchlist_id": wl["id"]}
    sub = api.client.post("/v1/subscriptions", json=hook, headers=api.headers("checkpoint"))
    assert sub.status_code == 201 and sub.json()["secret"].startswith("whsec_")
    sid = sub.json()["id"]
    listed = api.client.get("/v1/subscriptions", headers=api.headers("checkpoint")).json()["subscriptions"]
    assert [s["id"] for s in listed] == [sid] and "secret" not in listed[0]
    assert (
        api.client.get("/v1/subscriptions", headers=api.headers("checkpoint_other")).json()["subscriptions"]
        == []
    )
    problem(
        api.client.get(f"/v1/subscriptions/{sid}/deliveries", headers=api.headers("checkpoint_other")), 404
    )
    problem(
        api.client.post("/v1/subscriptions", json={"url": "ftp://x"}, headers=api.headers("checkpoint")), 422
    )
    got = api.client.get(f"/v1/subscriptions/{sid}/deliveries?status=dead", headers=api.headers("checkpoint"))
    assert got.json() == {"deliveries": []}
