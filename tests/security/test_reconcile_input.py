"""/reconcile's extreme input: JSON nested 1,000 deep or more (POST body, GET ``queries``, form ``queries``)
and a query ``limit`` of 1e400, NaN or Infinity are a 422 naming the field, never a 500. Pins issue 15 §3
(``json.loads`` raised RecursionError, and ``int(inf)`` OverflowError, both answered 500)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from socialcredit.catalogue import Catalogue
from socialcredit.store import Database
from test_api_helpers import Api, problem, serve


@pytest.fixture
def api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    yield from serve(db, catalogue)


@pytest.mark.parametrize("depth", [1000, 5000, 8000])
def test_deep_json_is_a_422_naming_the_field(api: Api, depth: int) -> None:
    deep = "[" * depth + "]" * depth
    in_query = (
        '{"q0": {"query": "王芳", "properties": [{"pid": "x", "v": ' + "[" * depth + "]" * depth + "}]}}"
    )
    cases = [
        (api.client.post("/reconcile", content=deep, headers={"Content-Type": "application/json"}), ["body"]),
        (
            api.client.post(
                "/reconcile",
                content='{"queries": ' + in_query + "}",
                headers={"Content-Type": "application/json"},
            ),
            ["body"],
        ),
        (api.client.post("/reconcile", data={"queries": in_query}), ["form", "queries"]),
    ]
    if len(in_query) < 20_000:
        cases.append((api.client.get("/reconcile", params={"queries": in_query}), ["query", "queries"]))
    for resp, loc in cases:
        body = problem(resp, 422)
        assert body["errors"][0]["loc"] == loc and "nested deeper" in body["errors"][0]["reason"]


def test_brackets_inside_strings_are_not_nesting(api: Api) -> None:
    # A guard for the depth bound itself (passes on main too): text is not structure.
    queries = {"q0": {"query": "王芳" + "[" * 100}}
    assert api.client.post("/reconcile", data={"queries": json.dumps(queries)}).status_code == 200


@pytest.mark.parametrize("limit", ["1e400", "NaN", "Infinity", "-Infinity"])
def test_non_finite_limit_is_a_422_naming_it(api: Api, limit: str) -> None:
    raw = '{"q0": {"query": "王芳", "limit": ' + limit + "}}"
    for resp, loc in (
        (api.client.post("/reconcile", data={"queries": raw}), ["form", "queries", "q0", "limit"]),
        (api.client.get("/reconcile", params={"queries": raw}), ["query", "queries", "q0", "limit"]),
        (
            api.client.post(
                "/reconcile", content='{"queries": ' + raw + "}", headers={"Content-Type": "application/json"}
            ),
            ["body", "queries", "q0", "limit"],
        ),
    ):
        body = problem(resp, 422)
        assert body["errors"][0]["loc"] == loc, body


def test_huge_finite_limit_is_clamped(api: Api) -> None:
    # A guard (passes on main too): refusing non-finite limits must not refuse large finite ones.
    raw = '{"q0": {"query": "王芳", "limit": 1e300}}'
    assert api.client.post("/reconcile", data={"queries": raw}).status_code == 200
