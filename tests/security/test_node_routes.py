"""A check node exposes the check, health, readiness and metrics routes and nothing else (decision 1102): no
records, feed, subjects, audit, keys, portal, console, OpenAPI document or docs page, whatever the key. A
revoked key stops working on a node within its key refresh."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.openapi.utils import get_openapi

from node_helpers import Node, running_node, until
from socialcredit.catalogue import Catalogue
from socialcredit.keys import revoke_key
from socialcredit.node import create_snapshot
from socialcredit.store import Database
from test_api_helpers import SUBJECT, make_keys

NODE_ROUTES = {
    ("POST", "/v1/checks"),
    ("POST", "/v1/checks/batch"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
}
NOT_ON_A_NODE = [
    ("POST", "/v1/records"),
    ("GET", "/v1/records/1"),
    ("POST", "/v1/records/1/revoke"),
    ("GET", f"/v1/subjects/{SUBJECT}"),
    ("GET", "/v1/feed"),
    ("GET", "/v1/subscriptions"),
    ("GET", "/v1/audit"),
    ("GET", "/v1/keys"),
    ("GET", "/v1/public/search?q=x"),
    ("GET", "/v1/catalogue"),
    ("GET", "/reconcile"),
    ("POST", "/v1/screenings"),
    ("GET", "/portal"),
    ("GET", "/portal/lists"),
    ("GET", "/console"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/static/swagger-ui.css"),
]


@pytest.fixture
def node(db: Database, catalogue: Catalogue, tmp_path: Path) -> Iterator[tuple[Node, dict[str, str]]]:
    tokens = make_keys(db, catalogue)
    snap = tmp_path / "index.snap"
    create_snapshot(db.engine, catalogue, snap)
    with running_node(db, catalogue, snap, tmp_path, None) as n:
        yield n, tokens


def test_a_node_has_only_the_check_health_readiness_and_metrics_routes(
    node: tuple[Node, dict[str, str]],
) -> None:
    n, _ = node
    app: Any = n.client.app
    # Every route, included routers' too, as FastAPI itself lists them for a document (the node serves none).
    paths = get_openapi(title="node", version="0", routes=app.routes)["paths"]
    assert {(m.upper(), p) for p, ops in paths.items() for m in ops} == NODE_ROUTES
    for method, path in NODE_ROUTES:
        assert n.client.request(method, path, json={}).status_code != 404, path


@pytest.mark.parametrize(("method", "path"), NOT_ON_A_NODE)
@pytest.mark.parametrize("role", [None, "registrar", "admin", "auditor", "subject"])
def test_nothing_else_answers(
    node: tuple[Node, dict[str, str]], method: str, path: str, role: str | None
) -> None:
    n, tokens = node
    headers = {"Authorization": f"Bearer {tokens[role]}", "X-Purpose": "probe"} if role else {}
    r = n.client.request(method, path, headers=headers, json={} if method == "POST" else None)
    assert r.status_code == 404, (method, path, r.status_code)
    assert "Traceback" not in r.text


def test_a_revoked_key_stops_working_within_the_refresh(
    node: tuple[Node, dict[str, str]], db: Database
) -> None:
    n, tokens = node
    headers = {"Authorization": f"Bearer {tokens['checkpoint']}", "X-Purpose": "boarding check"}
    check = {"subject": SUBJECT, "action": "transport.air.ticket"}
    assert n.client.post("/v1/checks", json=check, headers=headers).status_code == 200
    key_id = tokens["checkpoint"].split("_")[1]
    with db.engine.begin() as conn:
        revoke_key(conn, key_id, dt.datetime.now(dt.UTC))
    until(lambda: n.client.post("/v1/checks", json=check, headers=headers).status_code == 401, "revocation")
    # Not ready without a stream to follow, and saying why; the checks still answer (from the snapshot).
    ready = n.client.get("/readyz")
    assert ready.status_code == 503 and "no stream" in ready.json()["reason"]
