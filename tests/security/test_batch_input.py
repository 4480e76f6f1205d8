"""Bad batch bodies (decision 1110): the batch route parses the usual shape in whole-list passes and hands
anything else to pydantic, so every bad body still answers a 422 naming field, value and reason, and a node
answers it exactly as the registry API does (the same router, the same problem body)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from node_helpers import Node, running_node
from socialcredit.catalogue import Catalogue
from socialcredit.node import create_snapshot
from socialcredit.store import Database
from test_api_helpers import SUBJECT, Api, problem, serve

ACT = "transport.air.ticket"
Q = {"subject": SUBJECT, "action": ACT}
# (raw body, the first error's loc, its value, a word of its reason)
BAD: list[tuple[bytes, list[Any], Any, str]] = [
    (b'{"queries": [', ["body"], None, "JSON"),
    (b"[]", ["body"], "[]", "object"),
    (b"{}", ["body", "queries"], "{}", "required"),
    (orjson.dumps({"queries": "x"}), ["body", "queries"], "x", "array"),
    (orjson.dumps({"queries": [Q, "x"]}), ["body", "queries", 1], "x", "object"),
    (orjson.dumps({"queries": [Q, {"subject": SUBJECT}]}), ["body", "queries", 1, "action"], None, "required"),
    (orjson.dumps({"queries": [{"subject": 7, "action": ACT}]}), ["body", "queries", 0, "subject"], 7, "string"),
    (orjson.dumps({"queries": [{"subject": SUBJECT, "action": ["x"]}]}), ["body", "queries", 0, "action"],
     "['x']", "string"),
    (orjson.dumps({"queries": [{**Q, "extra": 1}]}), ["body", "queries", 0, "extra"], 1, "not permitted"),
    (orjson.dumps({"queries": [Q], "extra": 1}), ["body", "extra"], 1, "not permitted"),
    (orjson.dumps({"queries": [{"subject": "1" * 65, "action": ACT}]}), ["body", "queries", 0, "subject"],
     "1" * 65, "at most 64"),
    (orjson.dumps({"queries": [{"subject": SUBJECT, "action": "a" * 121}]}), ["body", "queries", 0, "action"],
     "a" * 121, "at most 120"),
    (orjson.dumps({"queries": [Q], "at": 5}), ["body", "at"], 5, "string"),
    (orjson.dumps({"queries": [Q, {"subject": "x", "action": ACT}]}), ["body", "queries", 1, "subject"], "x",
     ""),
    (orjson.dumps({"queries": [Q, {"subject": SUBJECT, "action": "no.such"}]}), ["body", "queries", 1, "action"],
     "no.such", "unknown action"),
]  # fmt: skip


@pytest.fixture
def both(db: Database, catalogue: Catalogue, tmp_path: Path) -> Iterator[tuple[Api, Node]]:
    snap = tmp_path / "index.snap"
    for api in serve(db, catalogue):
        create_snapshot(db.engine, catalogue, snap)
        with running_node(db, catalogue, snap, tmp_path, None) as node:
            yield api, node


def _post(client: Any, headers: dict[str, str], raw: bytes) -> Any:
    return client.post(
        "/v1/checks/batch", content=raw, headers={**headers, "Content-Type": "application/json"}
    )


@pytest.mark.parametrize(("raw", "loc", "value", "reason"), BAD)
def test_a_bad_batch_is_422_naming_the_field_on_the_api_and_a_node_alike(
    both: tuple[Api, Node], raw: bytes, loc: list[Any], value: Any, reason: str
) -> None:
    api, node = both
    headers = api.headers("checkpoint")
    err = problem(_post(api.client, headers, raw), 422)
    first = err["errors"][0]
    assert first["loc"] == loc, err
    if value is not None:
        assert first["value"] == value, err
    assert reason.lower() in first["reason"].lower(), err
    assert problem(_post(node.client, headers, raw), 422) == err


def test_too_many_queries_is_422_on_the_api_and_a_node_alike(both: tuple[Api, Node]) -> None:
    api, node = both
    raw = orjson.dumps({"queries": [Q] * 10_001})
    headers = api.headers("checkpoint")
    err = problem(_post(api.client, headers, raw), 422)
    assert err["errors"][0]["loc"] == ["body", "queries"] and "10000" in err["errors"][0]["reason"], err
    assert problem(_post(node.client, headers, raw), 422) == err


def test_the_usual_shape_and_its_variants_are_answered_alike(both: tuple[Api, Node]) -> None:
    """Bodies the whole-list parse takes and ones it hands to pydantic (keys reordered, a null ``at``, an
    empty batch) answer the same decisions on the API and on a node."""
    api, node = both
    headers = api.headers("checkpoint")
    bodies = [
        {"queries": [Q, {"action": ACT, "subject": SUBJECT.lower()}]},
        {"at": None, "queries": [Q], "known_at": None},
        {"queries": []},
    ]
    for body in bodies:
        a, n = _post(api.client, headers, orjson.dumps(body)), _post(node.client, headers, orjson.dumps(body))
        assert a.status_code == n.status_code == 200, (a.text, n.text)
        got_a, got_n = a.json(), n.json()
        assert got_a["count"] == got_n["count"] == len(body["queries"])  # type: ignore[arg-type]
        assert [{**d, "as_of": None} for d in got_a["decisions"]] == [
            {**d, "as_of": None} for d in got_n["decisions"]
        ]
