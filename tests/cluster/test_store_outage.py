"""PostgreSQL restarted under a running registry server (decision 1104): while the database is down, every
request that needs it (a filing, a revocation, a read, a check, whose audit entry must be committed) answers 503
``application/problem+json`` with ``Retry-After`` within a bounded time, never a 500 or a hang; when the database
is back, the same server process files and revokes again, with no restart."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from factories import person_id, row
from socialcredit.catalogue import Catalogue
from socialcredit.store.tables import outbox

from .harness import PrivatePostgres, make_key, running, start_server, wait_until

BOUND = 10.0  # seconds: the longest a request may take to be refused while the database is down


def _headers(token: str, purpose: bool = False) -> dict[str, str]:
    out = {"Authorization": f"Bearer {token}"}
    if purpose:
        out["X-Purpose"] = "failure test"
    return out


def _assert_unavailable(resp: httpx.Response, took: float, what: str) -> None:
    assert resp.status_code == 503, f"{what}: {resp.status_code} {resp.text[:300]}"
    assert resp.headers["content-type"].startswith("application/problem+json"), what
    body: dict[str, Any] = resp.json()
    assert body["status"] == 503 and body["type"].endswith("/unavailable"), (what, body)
    assert int(resp.headers["retry-after"]) >= 1, what
    assert took < BOUND, f"{what} took {took:.1f} s"


def test_registry_writes_answer_503_while_postgresql_is_down_and_resume_after(
    pg: PrivatePostgres, registry: tuple[str, Engine], catalogue: Catalogue, workdir: Path
) -> None:
    url, engine = registry
    registrar = make_key(engine, catalogue, "registrar", authority="court")
    checkpoint = make_key(engine, catalogue, "checkpoint", actions=["transport"])
    server = start_server(workdir, url)
    with running(server), httpx.Client(base_url=server.url, timeout=30) as http:
        first = http.post("/v1/records", json=row(external_id="PG-1"), headers=_headers(registrar))
        assert first.status_code == 201, first.text
        record_id = first.json()["id"]
        engine.dispose()

        pg.stop()
        try:
            time.sleep(1.1)  # past the key cache (KEY_CACHE_SECONDS): the key lookup needs the database too
            calls = {
                "filing": lambda: http.post(
                    "/v1/records",
                    json=row(external_id="PG-2", subject_id=person_id(12)),
                    headers=_headers(registrar),
                ),
                "revocation": lambda: http.post(
                    f"/v1/records/{record_id}/revoke", json={"reason": "test"}, headers=_headers(registrar)
                ),
                "read": lambda: http.get(f"/v1/records/{record_id}", headers=_headers(registrar)),
                "check": lambda: http.post(
                    "/v1/checks",
                    json={"subject": person_id(11), "action": "transport.air.ticket"},
                    headers=_headers(checkpoint, purpose=True),
                ),
            }
            for what, call in calls.items():
                for _ in range(2):  # the first after the outage (a dead pooled connection), then a fresh one
                    started = time.monotonic()
                    resp = call()
                    _assert_unavailable(resp, time.monotonic() - started, what)
            assert server.alive()
        finally:
            pg.start()

        # The same process, no restart: writes succeed again once the pool reconnects.
        def filed() -> httpx.Response | None:
            resp = http.post(
                "/v1/records",
                json=row(external_id="PG-2", subject_id=person_id(12)),
                headers=_headers(registrar),
            )
            return resp if resp.status_code == 201 else None

        wait_until(filed, 20, "a filing to succeed after PostgreSQL is back", every=0.2)
        revoked = http.post(
            f"/v1/records/{record_id}/revoke", json={"reason": "test"}, headers=_headers(registrar)
        )
        assert revoked.status_code == 200, revoked.text
        check = http.post(
            "/v1/checks",
            json={"subject": person_id(11), "action": "transport.air.ticket"},
            headers=_headers(checkpoint, purpose=True),
        )
        assert check.status_code == 200 and check.json()["allowed"] is True, check.text
    with engine.connect() as conn:  # nothing half-written: filed, filed, revoked
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 3
    assert "unhandled error" not in server.log.read_text(errors="replace"), server.tail()
