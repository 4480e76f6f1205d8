"""Issue 15 section 3: inputs that answered 500, each now a 4xx problem naming the field (both stores).

Attacks pinned: a feed cursor past 64 bits (OverflowError on SQLite, out-of-range on PostgreSQL); audit
instants that overflow once converted to UTC; NUL in a text field (PostgreSQL refuses to store it, so one store
answered 201 and the other 500); a non-finite number in any body field (the 422 itself could not be written as
JSON); a 405 without ``Allow``; and an OpenAPI document that described 422s as FastAPI's JSON, not problems.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from factories import row
from socialcredit.catalogue import Catalogue
from socialcredit.store import Database
from test_api_helpers import SUBJECT, Api, problem, serve


@pytest.fixture
def api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    yield from serve(db, catalogue)


def _field(body: dict[str, Any], loc: list[Any]) -> dict[str, Any]:
    """The error about ``loc``; every refusal names its field, value and reason."""
    found = [e for e in body.get("errors") or [] if e["loc"] == loc]
    assert found, body
    assert found[0]["reason"], found
    return found[0]


@pytest.mark.parametrize("after", ["9223372036854775808", "18446744073709551616", str(2**62 + 1), "1" * 5000])
def test_feed_cursor_past_64_bits_is_422(api: Api, after: str) -> None:
    resp = api.client.get("/v1/feed", params={"after": after}, headers=api.headers("checkpoint"))
    _field(problem(resp, 422), ["query", "after"])


def test_feed_cursor_at_the_bound_is_answered(api: Api) -> None:
    resp = api.client.get("/v1/feed", params={"after": str(2**62)}, headers=api.headers("checkpoint"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["events"] == []


def test_feed_watchlist_with_nul_is_422(api: Api) -> None:
    resp = api.client.get("/v1/feed", params={"watchlist": "wl_\x00"}, headers=api.headers("checkpoint"))
    _field(problem(resp, 422), ["query", "watchlist"])


EDGE_INSTANTS = [
    "0001-01-01",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00",
    "9999-12-31",
    "9999-12-31T23:59:59-14:00",
    "1800-01-01T00:00:00Z",
    "3000-01-01T00:00:00+08:00",
]


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("value", EDGE_INSTANTS)
def test_audit_instants_at_the_edges_are_422(api: Api, name: str, value: str) -> None:
    resp = api.client.get("/v1/audit", params={name: value}, headers=api.headers("auditor"))
    err = _field(problem(resp, 422), ["query", name])
    assert err["value"] == value and "range" in err["reason"]


def test_audit_instants_inside_the_range_are_answered(api: Api) -> None:
    params = {"since": "1900-01-01", "until": "2999-12-31T23:59:59+08:00"}
    resp = api.client.get("/v1/audit", params=params, headers=api.headers("auditor"))
    assert resp.status_code == 200, resp.text


def test_audit_not_an_instant_is_422(api: Api) -> None:
    resp = api.client.get("/v1/audit", params={"since": "yesterday"}, headers=api.headers("auditor"))
    assert "ISO 8601" in _field(problem(resp, 422), ["query", "since"])["reason"]


# Each text field a client can store, with the role that stores it. NUL was a 500 on PostgreSQL and stored on
# SQLite; the rest were stored on both (one rule now: no control characters, tab and newline only in prose).
STORED_TEXTS = [
    ("checkpoint", "/v1/watchlists", {"name": "list\x00one"}, ["body", "name"]),
    ("checkpoint", "/v1/watchlists", {"name": "list\x1bone"}, ["body", "name"]),
    ("checkpoint", "/v1/subscriptions", {"url": "https://bank.example/\x00"}, ["body", "url"]),
    ("checkpoint", "/v1/subscriptions", {"url": "https://bank.example/a\nb"}, ["body", "url"]),
    (
        "checkpoint",
        "/v1/subscriptions",
        {"url": "https://x", "watchlist_id": "wl_\x00"},
        ["body", "watchlist_id"],
    ),
    ("admin", "/v1/keys", {"role": "auditor", "label": "ops\x00"}, ["body", "label"]),
    ("admin", "/v1/keys", {"role": "auditor", "label": "ops\x7f"}, ["body", "label"]),
    ("admin", "/v1/keys", {"role": "auditor", "label": "ops\ud800"}, ["body", "label"]),
    ("registrar", "/v1/records", row(subject_id=SUBJECT, subject_name="王\x00芳"), ["body", "subject_name"]),
    ("registrar", "/v1/records", row(subject_id=SUBJECT, summary="a\x00b"), ["body", "summary"]),
    ("subject", "/v1/records/1/objections", {"grounds": "wrong\x00"}, ["body", "grounds"]),
    ("subject", "/v1/records/1/objections", {"grounds": "x", "counsel": "Li\x00"}, ["body", "counsel"]),
    (
        "subject",
        "/v1/records/1/repair-requests",
        {"evidence": "e\x7f", "commitment": "c"},
        ["body", "evidence"],
    ),
    ("registrar", "/v1/records/1/fulfil", {"reason": "paid\x00"}, ["body", "reason"]),
    ("registrar", "/v1/records/1/revoke", {"reason": "error\x00"}, ["body", "reason"]),
]


@pytest.mark.parametrize(("role", "path", "body", "loc"), STORED_TEXTS)
def test_control_characters_are_refused_in_every_stored_text(
    api: Api, role: str, path: str, body: dict[str, Any], loc: list[Any]
) -> None:
    filed = api.client.post("/v1/records", json=row(subject_id=SUBJECT), headers=api.headers("registrar"))
    assert filed.status_code == 201, filed.text
    before = api.counts()
    raw = json.dumps(body).encode()  # escaped as JSON, so a lone surrogate travels as \ud800
    resp = api.client.post(
        path, content=raw, headers={**api.headers(role), "Content-Type": "application/json"}
    )
    err = _field(problem(resp, 422), loc)
    # (pydantic itself refuses a lone surrogate as "unable to parse raw data as a unicode string")
    assert any(w in err["reason"] for w in ("control character", "surrogate", "unicode")), err
    after = api.counts()
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }


def test_prose_keeps_tab_and_newline(api: Api) -> None:
    filed = api.client.post("/v1/records", json=row(subject_id=SUBJECT), headers=api.headers("registrar"))
    assert filed.status_code == 201, filed.text
    resp = api.client.post(
        "/v1/records/1/objections",
        json={"grounds": "1. paid in full\n2. see\treceipt"},
        headers=api.headers("subject"),
    )
    assert resp.status_code == 201, resp.text


@pytest.mark.parametrize("number", ["1e999", "-1e999", "NaN", "Infinity", "1e400", str(2**64)])
def test_non_finite_numbers_in_a_body_field_are_422(api: Api, number: str) -> None:
    raw = '{"name": ' + number + "}"
    resp = api.client.post(
        "/v1/watchlists",
        content=raw.encode(),
        headers={**api.headers("checkpoint"), "Content-Type": "application/json"},
    )
    err = _field(problem(resp, 422), ["body", "name"])
    json.dumps(err, allow_nan=False)  # the error itself is JSON


def test_a_body_nested_1000_deep_is_400(api: Api) -> None:
    raw = '{"role": "auditor", "label": ' + "[" * 5000 + "]" * 5000 + "}"
    resp = api.client.post(
        "/v1/keys", content=raw.encode(), headers={**api.headers("admin"), "Content-Type": "application/json"}
    )
    assert "parsed" in problem(resp, 400)["detail"]


def test_405_carries_allow(api: Api) -> None:
    resp = api.client.delete("/v1/records/1", headers=api.headers("registrar"))
    problem(resp, 405)
    assert resp.headers["allow"] == "GET"
    resp = api.client.put("/v1/keys", headers=api.headers("admin"))
    problem(resp, 405)
    assert set(resp.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_openapi_documents_problems_for_every_422_and_the_400(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    seen = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for code, answer in op["responses"].items():
                if code.startswith(("4", "5")):
                    assert answer["content"] == {"application/problem+json": {"schema": problem_ref}}, (
                        method,
                        path,
                        code,
                    )
            if op.get("requestBody"):
                assert "400" in op["responses"], (method, path)
            if op.get("parameters") or op.get("requestBody"):
                assert "422" in op["responses"], (method, path)
                seen += 1
    assert seen > 20


@pytest.mark.parametrize("until", ["9999-12-31", "0001-01-01", "3000-01-01"])
def test_a_correction_past_the_registry_dates_is_422(api: Api, until: str) -> None:
    # An upheld objection correcting effective_until to 9999-12-31 overflowed the end-of-day arithmetic.
    filed = api.client.post("/v1/records", json=row(subject_id=SUBJECT), headers=api.headers("registrar"))
    assert filed.status_code == 201, filed.text
    obj = api.client.post(
        "/v1/records/1/objections", json={"grounds": "wrong"}, headers=api.headers("subject")
    )
    assert obj.status_code == 201, obj.text
    resp = api.client.post(
        f"/v1/objections/{obj.json()['id']}/decision",
        json={"outcome": "upheld", "reason": "shorter", "correction": {"effective_until": until}},
        headers=api.headers("registrar"),
    )
    assert "range" in _field(problem(resp, 422), ["body", "correction.effective_until"])["reason"]
