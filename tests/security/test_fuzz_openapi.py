"""Hypothesis throws hostile values at every operation of /openapi.json: no answer is a 5xx, every error is
problem+json.

Attack pinned (issue 15 section 3): inputs a schema-driven fuzzer (schemathesis) rarely draws because they are
valid JSON or valid URLs but not valid for the store or the clock: numbers past 64 bits or not finite (1e999,
NaN, 2**63), instants that overflow UTC (0001-01-01, 9999-12-31T23:59:59-14:00), JSON nested 1,000+ deep,
control characters and lone surrogates, and bytes that are not UTF-8. Each is put into a path parameter, a
query parameter, ``X-Purpose``, a body field (or an item of a body list), or replaces the whole body, and
each request is sent with no key and with each role's key, on both stores. Each operation runs a fixed number
of derandomized examples, so the run is bounded (a few seconds an operation).

``KNOWN_ELSEWHERE`` lists 500s known and fixed elsewhere (empty: every case must hold here).
"""

from __future__ import annotations

import json
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import row
from socialcredit.api import create_app
from socialcredit.catalogue import Catalogue, default_catalogue
from socialcredit.settings import Settings
from socialcredit.store import Database, upgrade
from test_api_helpers import SUBJECT, make_keys

ROLES = ("none", "registrar", "checkpoint", "subject", "screener", "auditor", "admin")


@dataclass(frozen=True)
class Hostile:
    """One hostile value: its kind, its JSON text (bytes: it may not be UTF-8), its URL-encoded form and its
    form as a header value (Latin-1 on the wire; what HTTP cannot carry in a header, CR, LF and NUL, and what
    Latin-1 cannot, is sent as its JSON text)."""

    kind: str
    json: bytes
    url: str
    header: str = ""

    def __post_init__(self) -> None:
        if not self.header:
            object.__setattr__(self, "header", self.json.strip(b'"').decode("latin-1"))


def _text(kind: str, value: str) -> Hostile:
    # JSON carries a lone surrogate as an escape; a URL as the bytes of its UTF-8 encoding (which is not UTF-8).
    raw = value.encode("utf-8", "surrogatepass")
    sendable = not any(c in value for c in "\r\n\x00") and all(ord(c) < 256 for c in value)
    return Hostile(
        kind,
        json.dumps(value).encode(),
        urllib.parse.quote_from_bytes(raw, safe=""),
        value if sendable else "",
    )


def _number(token: str) -> Hostile:
    return Hostile("number", token.encode(), urllib.parse.quote(token, safe=""))


DEEP = "[" * 1500 + "]" * 1500
DEEP_OBJECT = '{"a":' * 1200 + "1" + "}" * 1200
HOSTILE: list[Hostile] = [
    *(
        _number(t)
        for t in ("1e999", "-1e999", "NaN", "Infinity", "-1", "1.5", str(2**63), str(2**64), "9" * 5000)
    ),
    *(
        _text("instant", t)
        for t in (
            "0001-01-01",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "9999-12-31T23:59:59.999999",
            "2026-02-30",
        )
    ),
    *(_text("control", t) for t in ("a\x00b", "\x1b[2J", "\x7f", "\r\n", "\ud800")),
    Hostile("nesting", DEEP.encode(), urllib.parse.quote(DEEP, safe="")),
    Hostile("nesting", DEEP_OBJECT.encode(), urllib.parse.quote(DEEP_OBJECT, safe="")),
    Hostile("bytes", b'"\xff\xfe\xc0\x80"', "%FF%FE%C0%80"),
    *(Hostile("type", t.encode(), urllib.parse.quote(t, safe="")) for t in ("true", "null", "{}")),
    _text("text", "x" * 5000),
]
# Whole bodies: not JSON, not UTF-8, nested, a form where JSON is expected, nothing at all.
WHOLE_BODIES: list[tuple[str, bytes, str]] = [
    ("nesting", DEEP.encode(), "application/json"),
    ("nesting", DEEP_OBJECT.encode(), "application/json"),
    ("nesting", b"queries=" + urllib.parse.quote(DEEP_OBJECT).encode(), "application/x-www-form-urlencoded"),
    ("bytes", b"\xff\xfe\x00\x01", "application/json"),
    ("number", b"1e999", "application/json"),
    ("number", b"NaN", "application/json"),
    ("type", b"", "application/json"),
    ("type", b"[]", "application/json"),
    ("type", b"role=admin&name=x", "application/x-www-form-urlencoded"),
]

# 500s that parallel branches fix (reconcile: JSON nested 1,000+ deep; checks: `at`/`known_at` at the edges), as
# (method, path template, kind of hostile value): tolerated only there. Fixed in the h1/h2 branch; the integrator
# empties this set after merging them.
KNOWN_ELSEWHERE: set[tuple[str, str, str]] = set()

# Valid bodies to start from, by schema name; a field (or the whole body) is then replaced by a hostile value.
BASE_BODIES: dict[str, dict[str, Any]] = {
    "RecordCreate": row(subject_id=SUBJECT, external_id="fuzz-1"),
    "RecordAmend": {"summary": "amended"},
    "RevokeBody": {"reason": "filed in error"},
    "CheckQuery": {"subject": SUBJECT, "action": "transport.air.ticket"},
    "BatchCheck": {"queries": [{"subject": SUBJECT, "action": "transport.air.ticket"}]},
    "KeyCreate": {"role": "auditor", "label": "fuzz"},
    "SubscriptionIn": {"url": "https://bank.example/hooks"},
    "WatchlistIn": {"name": "fuzz list"},
    "MembersIn": {"subject_ids": [SUBJECT]},
    "ObjectionIn": {"grounds": "the debt was paid"},
    "DecisionIn": {"outcome": "rejected", "reason": "not shown"},
    "RepairIn": {"evidence": "paid", "commitment": "will comply"},
    "RepairDecisionIn": {"approve": False, "reason": "too early"},
    "FulfilIn": {"reason": "paid in full"},
}
# Required query parameters, valid.
BASE_QUERY = {"q": "王芳", "queries": '{"q0":{"query":"王芳"}}'}


def _document() -> dict[str, Any]:
    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='sc-fuzz-')) / 'doc.db'}"
    db = Database.open(url)
    upgrade(db.engine)
    doc: dict[str, Any] = create_app(db, default_catalogue(), Settings(database_url=url)).openapi()
    db.engine.dispose()
    return doc


DOC = _document()
OPERATIONS = [
    (method.upper(), path, op)
    for path, item in DOC["paths"].items()
    for method, op in item.items()
    if method in ("get", "post", "put", "patch", "delete")
]


def _body_schema(op: dict[str, Any]) -> str | None:
    ref = (
        op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
    )
    return ref.rsplit("/", 1)[-1] if ref else None


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return dict(DOC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]])
    for alt in schema.get("anyOf", []):
        if alt.get("type") != "null":
            return _resolve(alt)
    return schema


def _body_slots(name: str) -> list[tuple[Any, ...]]:
    """Each place in a body a hostile value can go: every property, and the first item of a list (and its
    properties)."""
    slots: list[tuple[Any, ...]] = []
    for prop, sub in DOC["components"]["schemas"][name].get("properties", {}).items():
        slots.append((prop,))
        sub = _resolve(sub)
        if sub.get("type") == "array":
            slots.append((prop, 0))
            items = _resolve(sub.get("items", {}))
            slots += [(prop, 0, p) for p in items.get("properties", {})]
        elif sub.get("type") == "object" and "additionalProperties" in sub:
            slots.append((prop, "key"))
    return slots


def _slots(method: str, path: str, op: dict[str, Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = [("header", "X-Purpose")]
    out += [(p["in"], p["name"]) for p in op.get("parameters", []) if p["in"] in ("path", "query")]
    if (schema := _body_schema(op)) is not None:
        out += [("body", *s) for s in _body_slots(schema)]
    return out


_INSTANT_NAMES = (
    "at",
    "known_at",
    "since",
    "until",
    "decided_on",
    "effective_from",
    "effective_until",
    "after",
)


def _fits(slot: tuple[Any, ...], hostile: Hostile) -> bool:
    """Whether the sweep tries ``hostile`` in ``slot``: instants only where a date or cursor is read (the other
    kinds everywhere), so the sweep stays a few hundred requests an operation."""
    return hostile.kind != "instant" or str(slot[-1]) in _INSTANT_NAMES


def _pairs(method: str, path: str, op: dict[str, Any]) -> list[tuple[tuple[Any, ...], Hostile]]:
    return [(s, h) for s in _slots(method, path, op) for h in HOSTILE if _fits(s, h)]


@dataclass
class Live:
    client: TestClient
    headers: dict[str, dict[str, str]]
    path_values: dict[str, str]


@pytest.fixture
def live(db: Database, catalogue: Catalogue) -> Iterator[Live]:
    """An app over the test database with a record, an objection, a repair request, a watchlist and a
    subscription (so that path parameters can name something that exists), and headers for each role."""
    tokens = make_keys(db, catalogue)
    app = create_app(db, catalogue, Settings(database_url=str(db.engine.url), public_rate_limit=1_000_000))
    headers: dict[str, dict[str, str]] = {"none": {}}
    for r in ROLES[1:]:
        headers[r] = {"Authorization": f"Bearer {tokens[r]}", "X-Purpose": "fuzz test"}
    with TestClient(app, raise_server_exceptions=False) as client:
        client.post("/v1/records", json=row(subject_id=SUBJECT), headers=headers["registrar"])
        client.post("/v1/records/1/objections", json={"grounds": "paid"}, headers=headers["subject"])
        wl = client.post("/v1/watchlists", json={"name": "fuzz"}, headers=headers["checkpoint"]).json()
        sub = client.post(
            "/v1/subscriptions", json={"url": "https://bank.example/h"}, headers=headers["checkpoint"]
        ).json()
        key_id = tokens["auditor"].split("_")[1]
        values = {"wl_id": wl["id"], "sub_id": sub["id"], "key_id": key_id, "subject_id": SUBJECT}
        yield Live(client, headers, values)
    app.state.sc.close()


def _put(body: Any, slot: tuple[Any, ...], marker: str) -> Any:
    """``body`` with the place ``slot`` holding ``marker`` (lists and objects made on the way as needed)."""
    head, rest = slot[0], slot[1:]
    if head == "key":  # a hostile key of an object of strings
        return {marker: "x"}
    if isinstance(head, int):
        items = list(body) if isinstance(body, list) and body else [{}]
        items[0] = _put(items[0], rest, marker) if rest else marker
        return items
    out = dict(body) if isinstance(body, dict) else {}
    out[head] = _put(out.get(head), rest, marker) if rest else marker
    return out


@dataclass
class Case:
    method: str
    template: str
    path: str
    query: str
    headers: dict[str, str | bytes]
    body: bytes | None
    kinds: set[str]


def _build(
    method: str,
    path: str,
    op: dict[str, Any],
    path_values: dict[str, str],
    values: dict[tuple[Any, ...], Hostile],
    whole: tuple[str, bytes, str] | None = None,
) -> Case:
    """The request for ``op`` with each slot of ``values`` holding its hostile value, the rest valid."""
    kinds = {h.kind for h in values.values()}
    url = path
    for p in op.get("parameters", []):
        if p["in"] == "path":
            hostile = values.get(("path", p["name"]))
            url = url.replace(
                "{" + p["name"] + "}", hostile.url if hostile else path_values.get(p["name"], "1")
            )
    names = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
    query = [
        f"{n}={urllib.parse.quote(v)}"
        for n, v in BASE_QUERY.items()
        if n in names and ("query", n) not in values
    ]
    query += [f"{s[1]}={h.url}" for s, h in values.items() if s[0] == "query"]
    headers: dict[str, str | bytes] = {}
    if ("header", "X-Purpose") in values:
        headers["X-Purpose"] = values[("header", "X-Purpose")].header.encode("latin-1")
    body: bytes | None = None
    schema = _body_schema(op)
    if whole is not None:
        kind, body, ctype = whole
        kinds.add(kind)
        headers["Content-Type"] = ctype
    elif schema is not None:
        base: Any = BASE_BODIES.get(schema, {})
        markers = {}
        for i, (s, h) in enumerate((s, h) for s, h in values.items() if s[0] == "body"):
            marker = f"@@fuzz{i}@@"
            base = _put(base, s[1:], marker)
            markers[json.dumps(marker).encode()] = h.json
        body = json.dumps(base, ensure_ascii=False).encode()
        for marker_json, fragment in markers.items():
            body = body.replace(marker_json, fragment)
        headers["Content-Type"] = "application/json"
    return Case(method, path, url, "&".join(query), headers, body, kinds)


@st.composite
def combinations(
    draw: st.DrawFn, method: str, path: str, op: dict[str, Any], path_values: dict[str, str]
) -> Case:
    """Up to three slots hostile at once, or a hostile whole body."""
    whole = draw(st.sampled_from(WHOLE_BODIES)) if method in ("POST", "PUT") and draw(st.booleans()) else None
    slots = _slots(method, path, op)
    chosen = draw(st.lists(st.sampled_from(slots), min_size=0 if whole else 1, max_size=3, unique=True))
    values = {s: draw(st.sampled_from(HOSTILE)) for s in chosen}
    return _build(method, path, op, path_values, values, whole)


def _check(case: Case, role: str, resp: Any) -> None:
    where = f"{case.method} {case.path}?{case.query[:200]} as {role}: {resp.status_code} {resp.text[:300]}"
    if resp.status_code >= 500:
        if any((case.method, case.template, k) in KNOWN_ELSEWHERE for k in case.kinds):
            return
        raise AssertionError(where)
    if resp.status_code >= 400:
        assert resp.headers.get("content-type", "").startswith("application/problem+json"), where
        body = resp.json()
        assert body["status"] == resp.status_code and body["type"].startswith("https://"), where
        assert "Traceback" not in resp.text, where


def _send(live: Live, case: Case, role: str) -> Any:
    target = case.path + (f"?{case.query}" if case.query else "")
    return live.client.request(
        case.method, target, content=case.body, headers={**live.headers[role], **case.headers}
    )


def _owner(live: Live, method: str, path: str, op: dict[str, Any]) -> str:
    """The first role the operation lets through with valid input: hostile values sent with it reach past
    authentication into the code that reads them."""
    case = _build(method, path, op, live.path_values, {})
    for role in ROLES[1:]:
        if _send(live, case, role).status_code not in (401, 403):
            return role
    return "none"


_SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
_IDS = [f"{m} {p}" for m, p, _ in OPERATIONS]


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=_IDS)
def test_each_hostile_value_in_each_slot(method: str, path: str, op: dict[str, Any], live: Live) -> None:
    """One hostile value at a time, in every slot, sent with the role that the operation lets through. A
    sweep rather than a sample (random draws would leave about a third of the pairs untried); it reports
    every failing pair at once."""
    owner = _owner(live, method, path, op)
    failures = []
    for slot, hostile in _pairs(method, path, op):
        case = _build(method, path, op, live.path_values, {slot: hostile})
        try:
            _check(case, owner, _send(live, case, owner))
        except AssertionError as exc:
            failures.append(f"{slot} <- {hostile.kind} {hostile.json[:40]!r}: {str(exc)[:200]}")
    for whole in WHOLE_BODIES if method in ("POST", "PUT") else []:
        case = _build(method, path, op, live.path_values, {}, whole)
        try:
            _check(case, owner, _send(live, case, owner))
        except AssertionError as exc:
            failures.append(f"whole body <- {whole[0]} {whole[1][:40]!r}: {str(exc)[:200]}")
    assert not failures, f"{len(failures)} failing:\n" + "\n".join(failures[:30])


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=_IDS)
def test_hostile_combinations_as_every_role(method: str, path: str, op: dict[str, Any], live: Live) -> None:
    """Several hostile slots at once, or a hostile whole body, sent with no key and with each role's key."""

    @settings(_SETTINGS, max_examples=10)
    @given(case=combinations(method, path, op, live.path_values))
    def run(case: Case) -> None:
        for role in ROLES:
            _check(case, role, _send(live, case, role))

    run()
