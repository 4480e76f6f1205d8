"""Exact-identifier lookups on the public endpoints are budgeted per identifier, per client and for everyone's
misses together, and audited by keyed hash with the client's address.

Pins issue 15 §1: public search shows 李明强 as ``110105***********6``; sending the ~33,000 candidates of one
birth year 20 at a time to ``POST /reconcile`` found the full number in 23 s (a batch cost one request of the
per-minute limit), and the audit entry of a reconcile-by-identifier said ``{"q0": null}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from factories import org_id, person_id, row
from socialcredit.api import create_app
from socialcredit.api.budget import LookupHasher
from socialcredit.catalogue import Catalogue
from socialcredit.identifiers import mask
from socialcredit.settings import Settings
from socialcredit.store import Database
from socialcredit.store.tables import audit_log
from test_api_helpers import make_keys, problem

VICTIM = person_id(16, birth="19750302")
CANDIDATES = [person_id(n, birth="19750302") for n in range(1, 60) if n != 16]


class Clients:
    def __init__(self, db: Database, catalogue: Catalogue, tmp: Path, **settings: Any) -> None:
        self.settings = Settings(
            database_url=str(db.engine.url), lookup_hash_key_file=str(tmp / "lookup.key"), **settings
        )
        self.app = create_app(db, catalogue, self.settings)
        self.db, self.tokens = db, make_keys(db, catalogue)
        self._open: list[TestClient] = []

    def at(self, address: str) -> TestClient:
        client = TestClient(self.app, client=(address, 40000), raise_server_exceptions=False)
        client.__enter__()
        self._open.append(client)
        return client

    def close(self) -> None:
        for c in self._open:
            c.__exit__(None, None, None)


@pytest.fixture
def make(db: Database, catalogue: Catalogue, tmp_path: Path) -> Iterator[Any]:
    made: list[Clients] = []

    def build(**settings: Any) -> Clients:
        made.append(Clients(db, catalogue, tmp_path, **settings))
        return made[-1]

    yield build
    for c in made:
        c.close()


def _file(clients: Clients, subject: str = VICTIM, name: str = "李明强") -> None:
    admin = clients.at("192.0.2.250")
    resp = admin.post(
        "/v1/records",
        json=row(subject_id=subject, subject_name=name, external_id=f"x-{subject}"),
        headers={"Authorization": f"Bearer {clients.tokens['registrar']}"},
    )
    assert resp.status_code == 201, resp.text


def _batch(ids: list[str]) -> dict[str, str]:
    return {
        "queries": json.dumps({f"q{i}": {"properties": [{"pid": "id", "v": v}]} for i, v in enumerate(ids)})
    }


def test_a_batch_of_20_identifiers_costs_20(make: Any) -> None:
    clients = make()
    _file(clients)
    attacker = clients.at("198.51.100.1")
    first = attacker.post("/reconcile", data=_batch([*CANDIDATES[:19], VICTIM]))
    assert first.status_code == 200, first.text
    assert first.json()["q19"]["result"][0]["name"] == "李明强"
    # The 21st lookup within the hour, by search or by reconcile, is refused.
    limited = problem(attacker.get("/v1/public/search", params={"q": CANDIDATES[20]}), 429)
    assert "20 identifier lookups an hour" in limited["detail"]
    assert int(attacker.get("/v1/public/search", params={"q": CANDIDATES[20]}).headers["retry-after"]) >= 60
    problem(attacker.post("/reconcile", data=_batch(CANDIDATES[21:22])), 429)
    problem(attacker.post("/reconcile", json={"q0": {"query": CANDIDATES[22]}}), 429)


def test_a_batch_the_budget_cannot_pay_for_is_refused_whole_before_any_lookup(make: Any) -> None:
    clients = make()
    _file(clients)
    attacker = clients.at("198.51.100.2")
    assert attacker.post("/reconcile", data=_batch(CANDIDATES[:15])).status_code == 200
    with clients.db.engine.connect() as conn:
        before = len(conn.execute(select(audit_log.c.seq)).all())
    problem(attacker.post("/reconcile", data=_batch([*CANDIDATES[15:24], VICTIM])), 429)
    with clients.db.engine.connect() as conn:
        assert len(conn.execute(select(audit_log.c.seq)).all()) == before  # nothing was looked up
    # What was left (5) is still there.
    assert attacker.post("/reconcile", data=_batch([*CANDIDATES[15:19], VICTIM])).status_code == 200


def test_misses_across_all_clients_have_a_daily_budget(make: Any) -> None:
    clients = make(identifier_misses_per_day=30)
    _file(clients)
    assert clients.at("198.51.100.3").post("/reconcile", data=_batch(CANDIDATES[:20])).status_code == 200
    assert clients.at("198.51.100.4").post("/reconcile", data=_batch(CANDIDATES[20:30])).status_code == 200
    fresh = clients.at("203.0.113.5")  # a new address buys nothing once the day's misses are spent
    body = problem(fresh.get("/v1/public/search", params={"q": CANDIDATES[30]}), 429)
    assert "misses for all clients" in body["detail"]
    problem(fresh.get("/v1/public/search", params={"q": VICTIM}), 429)
    assert fresh.get("/v1/public/search", params={"q": "李明强"}).status_code == 200  # names still answer


def test_lookups_that_find_a_listed_subject_spend_no_misses(make: Any) -> None:
    clients = make(identifier_misses_per_day=2)
    _file(clients)
    for i in range(10):
        resp = clients.at(f"203.0.113.{i}").get("/v1/public/search", params={"q": VICTIM})
        assert resp.status_code == 200 and resp.json()["results"][0]["id"] == mask(VICTIM)
    assert clients.at("203.0.113.50").get("/v1/public/search", params={"q": CANDIDATES[0]}).status_code == 200


def test_name_searches_and_organisation_codes_are_not_budgeted(make: Any) -> None:
    clients = make(public_rate_limit=1000)
    _file(clients)
    user = clients.at("198.51.100.6")
    for _ in range(30):
        assert user.get("/v1/public/search", params={"q": "李明强"}).status_code == 200
        assert user.get("/v1/public/search", params={"q": org_id(3)}).status_code == 200
    names = {"queries": json.dumps({f"q{i}": {"query": "李明强"} for i in range(20)})}
    for _ in range(3):
        assert user.post("/reconcile", data=names).status_code == 200
    assert user.get("/v1/public/search", params={"q": VICTIM}).status_code == 200  # the budget is untouched


def _public_entries(db: Database) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.actor == "public").order_by(audit_log.c.seq))
        return [dict(r._mapping) for r in rows]


def test_public_lookups_are_audited_by_keyed_hash_with_the_client(make: Any, tmp_path: Path) -> None:
    clients = make()
    _file(clients)
    attacker = clients.at("198.51.100.8")
    assert (
        attacker.post("/reconcile", json={"q0": {"properties": [{"pid": "id", "v": VICTIM}]}}).status_code
        == 200
    )
    assert attacker.get("/v1/public/search", params={"q": CANDIDATES[0]}).status_code == 200
    assert attacker.get("/v1/public/search", params={"q": "李明"}).status_code == 200
    recon, by_id, by_name = _public_entries(clients.db)
    tag = LookupHasher(tmp_path / "lookup.key").tag
    target = json.loads(recon["target"])
    assert target == {"client": "198.51.100.8", "queries": {"q0": f"{mask(VICTIM)} {tag(VICTIM)}"}}
    assert CANDIDATES[0] not in by_id["target"] and tag(CANDIDATES[0]) in by_id["target"]
    assert "client:198.51.100.8" in by_id["target"]
    assert by_name["target"] == "q:李明 page:1 client:198.51.100.8"
    assert VICTIM not in recon["target"] + by_id["target"]  # no full number in the log's public entries
    # An auditor who knows the identifier finds every lookup of it.
    auditor = clients.at("192.0.2.251")
    found = auditor.get(
        "/v1/audit",
        params={"target": VICTIM, "action": "public.reconcile"},
        headers={"Authorization": f"Bearer {clients.tokens['auditor']}"},
    ).json()["entries"]
    assert [e["seq"] for e in found] == [recon["seq"]]
    found = auditor.get(
        "/v1/audit",
        params={"target": CANDIDATES[0]},
        headers={"Authorization": f"Bearer {clients.tokens['auditor']}"},
    ).json()["entries"]
    assert [e["seq"] for e in found] == [by_id["seq"]]


def test_the_lookup_key_is_made_once_and_kept(tmp_path: Path) -> None:
    a, b = LookupHasher(tmp_path / "sub" / "k"), LookupHasher(tmp_path / "sub" / "k")
    assert a.tag(VICTIM) == b.tag(VICTIM) != LookupHasher(tmp_path / "other").tag(VICTIM)
    assert (tmp_path / "sub" / "k").stat().st_mode & 0o777 == 0o600


def test_the_reconciliation_view_url_shows_the_subject(make: Any) -> None:
    clients = make()
    _file(clients)
    _file(clients, person_id(27, birth="19750302"), "王五")
    user = clients.at("198.51.100.9")
    view = user.get("/reconcile").json()["view"]["url"]
    result = user.post("/reconcile", data={"queries": json.dumps({"q0": {"query": "李明强"}})}).json()
    candidate = result["q0"]["result"][0]
    assert candidate["id"] == mask(VICTIM) and "*" in candidate["id"]
    followed = httpx.URL(view.replace("{{id}}", candidate["id"]))
    page = user.get(followed.path, params=dict(followed.params))
    assert page.status_code == 200
    shown = page.json()["results"]
    assert [(r["name"], r["id"]) for r in shown] == [("李明强", candidate["id"])]
    assert VICTIM not in page.text
