"""Who may reach what: every role against every endpoint it must not reach (401/403), bad tokens (401),
injection strings and oversized payloads on every input (a 4xx problem, never a 5xx; nothing stored
changes)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from sqlalchemy import update

from factories import row
from socialcredit.catalogue import Catalogue
from socialcredit.keys import create_key
from socialcredit.store import Database
from socialcredit.store.tables import api_keys
from test_api_helpers import SUBJECT, Api, problem, serve


@pytest.fixture
def api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    yield from serve(db, catalogue)


ROW = row(subject_id=SUBJECT)
CHECK = {"subject": SUBJECT, "action": "transport.air.ticket"}
ROLES = ("registrar", "checkpoint", "subject", "screener", "auditor", "admin")

# (method, path, body, roles allowed): every personal-data and management endpoint.
ENDPOINTS = [
    ("POST", "/v1/records", ROW, {"registrar"}),
    ("GET", "/v1/records/1", None, {"registrar", "subject"}),
    ("POST", "/v1/records/1/amend", {"summary": "x"}, {"registrar"}),
    ("POST", "/v1/records/1/revoke", {"reason": "x"}, {"registrar"}),
    ("POST", "/v1/checks", CHECK, {"checkpoint", "registrar"}),
    ("POST", "/v1/checks/batch", {"queries": [CHECK]}, {"checkpoint", "registrar"}),
    ("GET", f"/v1/subjects/{SUBJECT}", None, {"registrar", "subject"}),
    ("GET", f"/v1/subjects/{SUBJECT}/records", None, {"registrar", "subject"}),
    ("GET", "/v1/audit", None, {"auditor"}),
    ("GET", "/v1/audit/verify", None, {"auditor"}),
    ("POST", "/v1/keys", {"role": "auditor"}, {"admin"}),
    ("GET", "/v1/keys", None, {"admin"}),
    ("POST", "/v1/keys/0123456789abcdef/revoke", None, {"admin"}),
]
FORBIDDEN = [(m, p, b, r) for m, p, b, allowed in ENDPOINTS for r in ROLES if r not in allowed]
PUBLIC = [
    ("GET", "/v1/public/search?q=王芳"),
    ("GET", "/reconcile"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/v1/catalogue"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
]


def _filed(api: Api) -> None:
    r = api.client.post("/v1/records", json=ROW, headers=api.headers("registrar"))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("method", "path", "body", "role"), FORBIDDEN, ids=[f"{r}-{m}-{p}" for m, p, _, r in FORBIDDEN]
)
def test_role_cannot_reach_endpoint(api: Api, method: str, path: str, body: object, role: str) -> None:
    _filed(api)
    before = api.counts()
    resp = api.client.request(method, path, json=body, headers=api.headers(role))
    assert "key may not use this endpoint" in problem(resp, 403)["detail"]
    after = api.counts()
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"), ENDPOINTS, ids=[f"{m}-{p}" for m, p, _, _ in ENDPOINTS]
)
def test_no_key_is_401(api: Api, method: str, path: str, body: object, allowed: set[str]) -> None:
    resp = api.client.request(method, path, json=body, headers={"X-Purpose": "test purpose"})
    problem(resp, 401)
    assert resp.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), PUBLIC)
def test_public_endpoints_need_no_key(api: Api, method: str, path: str) -> None:
    assert api.client.request(method, path).status_code == 200


def test_scopes_inside_a_role(api: Api) -> None:
    _filed(api)
    h = api.headers
    # A subject reads only its own file; another subject's is 403.
    assert api.client.get(f"/v1/subjects/{SUBJECT}", headers=h("subject")).status_code == 200
    problem(api.client.get(f"/v1/subjects/{SUBJECT}", headers=h("subject_other")), 403)
    problem(api.client.get("/v1/records/1", headers=h("subject_other")), 404)
    # A registrar files, reads and revokes only for its own authority.
    problem(api.client.post("/v1/records", json=ROW, headers=h("registrar_other")), 403)
    problem(
        api.client.post(
            "/v1/records",
            json=row(authority="samr", category="court.judgment_defaulter"),
            headers=h("registrar_other"),
        ),
        403,
    )
    problem(api.client.get("/v1/records/1", headers=h("registrar_other")), 404)
    problem(api.client.post("/v1/records/1/revoke", json={"reason": "x"}, headers=h("registrar_other")), 404)
    problem(api.client.get(f"/v1/subjects/{SUBJECT}", headers=h("registrar_other")), 404)
    # A checkpoint checks only the actions in its scope, and never as known at a past instant.
    rail = {"subject": SUBJECT, "action": "transport.rail.g_train.ticket"}
    problem(api.client.post("/v1/checks", json=rail, headers=h("checkpoint")), 403)
    body = problem(
        api.client.post("/v1/checks/batch", json={"queries": [CHECK, rail]}, headers=h("checkpoint")), 403
    )
    assert "index 1" in body["detail"]
    problem(
        api.client.post("/v1/checks", json={**CHECK, "known_at": "2026-01-01"}, headers=h("checkpoint")), 403
    )


def test_purpose_required_for_registrar_and_checkpoint(api: Api) -> None:
    _filed(api)
    hdr = {**api.headers("checkpoint", purpose=None), "X-Purpose": "登机检查 CA1234".encode()}
    assert api.client.post("/v1/checks", json=CHECK, headers=hdr).status_code == 200
    for role, path in (("checkpoint", "/v1/checks"), ("registrar", "/v1/checks")):
        body = problem(api.client.post(path, json=CHECK, headers=api.headers(role, purpose=None)), 422)
        assert body["errors"][0]["loc"] == ["header", "X-Purpose"]
    problem(api.client.get("/v1/records/1", headers=api.headers("registrar", purpose=None)), 422)
    # A subject reading its own file need not say why.
    assert api.client.get("/v1/records/1", headers=api.headers("subject", purpose=None)).status_code == 200


def _tampered(token: str) -> str:
    last = token[-1]
    return token[:-1] + ("A" if last != "A" else "B")


def test_bad_tokens_are_401(api: Api, catalogue: object) -> None:
    good = api.tokens["checkpoint"]
    for bad in (
        _tampered(good),
        good.replace("sc_", "sk_"),
        "sc_0123456789abcdef_" + "x" * 43,
        "garbage",
        good[:-1],
    ):
        resp = api.client.post(
            "/v1/checks", json=CHECK, headers={"Authorization": f"Bearer {bad}", "X-Purpose": "test purpose"}
        )
        problem(resp, 401)
    problem(api.client.post("/v1/checks", json=CHECK, headers={"Authorization": f"Basic {good}"}), 401)


def test_expired_and_revoked_tokens_are_401(api: Api, catalogue: object) -> None:
    now = dt.datetime.now(dt.UTC)
    with api.db.engine.begin() as conn:
        key, token = create_key(
            conn,
            "checkpoint",
            catalogue,
            now,
            actions=["transport"],  # type: ignore[arg-type]
            expires_at=now + dt.timedelta(hours=1),
        )
    h = {"Authorization": f"Bearer {token}", "X-Purpose": "test purpose"}
    assert api.client.post("/v1/checks", json=CHECK, headers=h).status_code == 200
    with api.db.engine.begin() as conn:
        conn.execute(
            update(api_keys).where(api_keys.c.id == key.id).values(expires_at=now - dt.timedelta(seconds=1))
        )
    api.client.app.state.sc.forget_keys()  # type: ignore[attr-defined]
    assert "expired" in problem(api.client.post("/v1/checks", json=CHECK, headers=h), 401)["detail"]
    # Revoked through the API: refused at once.
    cp = api.tokens["checkpoint"]
    hc = {"Authorization": f"Bearer {cp}", "X-Purpose": "test purpose"}
    assert api.client.post("/v1/checks", json=CHECK, headers=hc).status_code == 200
    key_id = cp.split("_")[1]
    r = api.client.post(f"/v1/keys/{key_id}/revoke", headers=api.headers("admin"))
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    assert "revoked" in problem(api.client.post("/v1/checks", json=CHECK, headers=hc), 401)["detail"]


INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE records; --",
    '" OR ""="',
    "1; SELECT * FROM api_keys",
    "%",
    "_",
    "\\",
    "<script>alert(1)</script>",
    "${jndi:ldap://x}",
    "{{7*7}}",
    "../../etc/passwd",
    "\u202eevil",
    "\x00",
    "😀" * 3,
    "a" * 5000,
]


@pytest.mark.parametrize("bad", INJECTIONS, ids=range(len(INJECTIONS)))
def test_injection_strings_never_5xx(api: Api, bad: str) -> None:
    _filed(api)
    h = api.headers
    # Free text is data: stored verbatim (stripped) when valid, else a 422 naming the field; never executed.
    for i, field in enumerate(
        (
            "external_id",
            "subject_id",
            "subject_name",
            "decision_no",
            "decided_on",
            "category",
            "legal_basis",
            "authority",
        )
    ):
        resp = api.client.post(
            "/v1/records", json={**ROW, "external_id": f"inj-{i}", field: bad}, headers=h("registrar")
        )
        assert resp.status_code in (201, 403, 422), resp.text
        if resp.status_code == 201:
            assert resp.json()[field] == bad.strip()
        else:
            problem(resp, resp.status_code)
    before = api.counts()
    calls = [
        api.client.post("/v1/records", json={**ROW, bad[:50]: "x"}, headers=h("registrar")),
        api.client.post("/v1/records/1/amend", json={"decided_on": bad}, headers=h("registrar")),
        api.client.post("/v1/records/1/revoke", json={"reason": bad}, headers=h("registrar_other")),
        api.client.post(
            "/v1/checks", json={"subject": bad, "action": "transport.air.ticket"}, headers=h("checkpoint")
        ),
        api.client.post("/v1/checks", json={"subject": SUBJECT, "action": bad}, headers=h("checkpoint")),
        api.client.post("/v1/checks", json={**CHECK, "at": bad}, headers=h("checkpoint")),
        api.client.post(
            "/v1/checks/batch",
            json={"queries": [{"subject": bad, "action": "transport.air"}]},
            headers=h("registrar"),
        ),
        api.client.get("/v1/public/search", params={"q": bad}),
        api.client.get("/v1/public/search", params={"q": f"王{bad}芳"}),
        api.client.get("/reconcile", params={"queries": json.dumps({"q0": {"query": f"王{bad}芳"}})}),
        api.client.post("/v1/records/1/revoke", json={"reason": f"x{bad}"}, headers=h("registrar_other")),
        api.client.get("/reconcile", params={"queries": json.dumps({"q0": {"query": bad}})}),
        api.client.get(f"/v1/subjects/{quote(bad[:60], safe='')}", headers=h("registrar")),
        api.client.get("/v1/audit", params={"target": bad[:60], "actor": bad[:60]}, headers=h("auditor")),
        api.client.post("/v1/keys", json={"role": "subject", "subject": bad[:60]}, headers=h("admin")),
    ]
    if bad.isprintable() and len(bad) < 200:
        hdr = {**h("checkpoint", purpose=None), "X-Purpose": bad.encode()}
        calls.append(api.client.post("/v1/checks", json=CHECK, headers=hdr))
    for resp in calls:
        assert resp.status_code < 500, resp.text
        if resp.status_code >= 400:
            problem(resp, resp.status_code)
    after = api.counts()
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }


def test_oversized_payloads(api: Api) -> None:
    _filed(api)
    before = api.counts()
    big = "x" * (1024 * 1024)
    h = api.headers
    for path, role in (
        ("/v1/records", "registrar"),
        ("/v1/records/1/amend", "registrar"),
        ("/v1/records/1/revoke", "registrar"),
        ("/v1/checks", "checkpoint"),
        ("/v1/keys", "admin"),
        ("/reconcile", None),
    ):
        body = problem(api.client.post(path, json={"summary": big}, headers=h(role)), 413)
        assert "at most" in body["detail"]

    # Streamed without a Content-Length: cut off while reading.
    def chunks() -> object:
        for _ in range(200):
            yield b"x" * 1024

    problem(
        api.client.post(
            "/v1/records", content=chunks(), headers={**h("registrar"), "Content-Type": "application/json"}
        ),
        413,
    )  # type: ignore[arg-type]
    # The batch endpoint takes 10,000 queries, not one more.
    many = {"queries": [CHECK] * 10_001}
    body = problem(api.client.post("/v1/checks/batch", json=many, headers=h("checkpoint")), 422)
    assert body["errors"][0]["loc"][:2] == ["body", "queries"]
    assert (
        api.client.post(
            "/v1/checks/batch", json={"queries": [CHECK] * 10_000}, headers=h("checkpoint")
        ).json()["count"]
        == 10_000
    )
    problem(api.client.get("/v1/public/search", params={"q": "王" * 101}), 422)
    problem(api.client.get("/v1/public/search", params={"q": "王"}), 422)
    after = api.counts()
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }


def test_invalid_body_names_field_paths(api: Api) -> None:
    body = problem(
        api.client.post(
            "/v1/records",
            json={**ROW, "decided_on": "2025-02-30", "colour": "red"},
            headers=api.headers("registrar"),
        ),
        422,
    )
    locs = [tuple(e["loc"]) for e in body["errors"]]
    assert ("body", "colour") in locs
    body = problem(
        api.client.post(
            "/v1/records", json={**ROW, "decided_on": "2025-02-30"}, headers=api.headers("registrar")
        ),
        422,
    )
    assert body["errors"] == [
        {
            "loc": ["body", "decided_on"],
            "pointer": "/decided_on",
            "value": "2025-02-30",
            "reason": "not a real date (YYYY-MM-DD)",
        }
    ]
    body = problem(
        api.client.post(
            "/v1/checks/batch",
            json={"queries": [CHECK, {"subject": "x", "action": "nope"}]},
            headers=api.headers("registrar"),
        ),
        422,
    )
    assert {tuple(e["loc"]) for e in body["errors"]} == {
        ("body", "queries", 1, "subject"),
        ("body", "queries", 1, "action"),
    }
    problem(api.client.get("/v1/records/0", headers=api.headers("registrar")), 422)
    problem(api.client.get(f"/v1/records/{2**63}", headers=api.headers("registrar")), 422)
    problem(api.client.get("/v1/nothing-here"), 404)
    problem(api.client.delete("/v1/records/1"), 405)
    problem(
        api.client.post(
            "/v1/records",
            content=b"{not json",
            headers={**api.headers("registrar"), "Content-Type": "application/json"},
        ),
        422,
    )
