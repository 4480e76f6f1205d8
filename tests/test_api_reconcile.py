"""The W3C reconciliation endpoint (0.2), validated against the specification's own JSON schemas and
examples (shared/data/reconciliation-api-0.2, beside the repository): every answer validates, every valid
example query is accepted, every invalid one rejected; candidates carry masked identifiers only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from factories import row
from socialcredit.catalogue import Catalogue
from socialcredit.store import Database
from test_api_helpers import SUBJECT, Api, problem, serve


@pytest.fixture
def api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    yield from serve(db, catalogue)


SPEC = Path(__file__).resolve().parents[2] / "shared" / "data" / "reconciliation-api-0.2"
pytestmark = pytest.mark.skipif(not SPEC.is_dir(), reason=f"{SPEC} is not present")


def _validator(name: str) -> Any:
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in (SPEC / "schemas").glob("*.json")]
    registry = jsonschema_rs.Registry([(d["$id"].rstrip("#"), d) for d in docs if "$id" in d])
    return jsonschema_rs.validator_for(json.loads((SPEC / "schemas" / name).read_text()), registry=registry)


def _examples(kind: str, validity: str) -> list[Path]:
    return sorted((SPEC / "examples" / kind / validity).glob("*.json")) if SPEC.is_dir() else []


def test_manifest_validates(api: Api) -> None:
    manifest = api.client.get("/reconcile").json()
    _validator("manifest.json").validate(manifest)
    assert manifest["versions"] == ["0.2"]


def test_query_answers_validate_and_mask(api: Api) -> None:
    api.client.post("/v1/records", json=row(subject_id=SUBJECT), headers=api.headers("registrar"))
    result_schema = _validator("reconciliation-result-batch.json")
    queries = {
        "q0": {"query": "王芳"},
        "q1": {"query": "nobody here"},
        "q2": {"properties": [{"pid": "id", "v": SUBJECT}]},
        "q3": {"query": "王芳", "type": "organisation"},
    }
    for resp in (
        api.client.post("/reconcile", data={"queries": json.dumps(queries)}),
        api.client.get("/reconcile", params={"queries": json.dumps(queries)}),
        api.client.post("/reconcile", json={"queries": queries}),
    ):
        assert resp.status_code == 200, resp.text
        body = resp.json()
        result_schema.validate(body)
        assert SUBJECT not in resp.text
        assert body["q0"]["result"][0]["id"] == SUBJECT[:6] + "*" * 11 + SUBJECT[-1]
        assert body["q0"]["result"][0]["match"] is True and body["q1"]["result"] == []
        assert body["q2"]["result"][0]["name"] == "王芳" and body["q3"]["result"] == []


@pytest.mark.parametrize("path", _examples("reconciliation-query-batch", "valid"), ids=lambda p: p.name)
def test_valid_example_queries_accepted(api: Api, path: Path) -> None:
    resp = api.client.post("/reconcile", data={"queries": path.read_text(encoding="utf-8")})
    assert resp.status_code == 200, resp.text
    _validator("reconciliation-result-batch.json").validate(resp.json())


@pytest.mark.parametrize("path", _examples("reconciliation-query-batch", "invalid"), ids=lambda p: p.name)
def test_invalid_example_queries_rejected(api: Api, path: Path) -> None:
    problem(api.client.post("/reconcile", data={"queries": path.read_text(encoding="utf-8")}), 422)


def test_malformed_batches(api: Api) -> None:
    problem(api.client.post("/reconcile", data={"queries": "{not json"}), 422)
    problem(api.client.post("/reconcile", data={}), 422)
    too_many = {f"q{i}": {"query": "王芳"} for i in range(21)}
    problem(api.client.post("/reconcile", data={"queries": json.dumps(too_many)}), 422)
