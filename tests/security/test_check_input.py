"""Hostile input to the check routes (issue 15 sections 3 and 6): bodies that are not JSON, numbers JSON
cannot echo, and instants at the edges of what a datetime holds. Each answers a 4xx problem naming the field;
on main they answered 200 (a form body parsed as JSON) or 500 (an overflow, an infinity in the problem)."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from socialcredit.catalogue import Catalogue
from socialcredit.store import Database
from test_api_helpers import SUBJECT, Api, problem, serve

CHECK = {"subject": SUBJECT, "action": "transport.air.ticket"}
BATCH = {"queries": [CHECK]}
ROUTES = [("/v1/checks", CHECK), ("/v1/checks/batch", BATCH)]


@pytest.fixture
def api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    yield from serve(db, catalogue)


@pytest.mark.parametrize(("path", "body"), ROUTES)
@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"]
)
def test_a_body_that_is_not_json_is_415(api: Api, path: str, body: object, content_type: str) -> None:
    # Defect: any Content-Type was parsed as JSON, so a form post passed as a check.
    headers = {**api.headers("checkpoint"), "Content-Type": content_type}
    resp = api.client.post(path, content=orjson.dumps(body), headers=headers)
    err = problem(resp, 415)
    assert err["errors"][0]["loc"] == ["header", "content-type"]


@pytest.mark.parametrize(("path", "body"), ROUTES)
@pytest.mark.parametrize("content_type", [None, "application/json", "application/json; charset=utf-8",
                                          "application/vnd.checks+json"])  # fmt: skip
def test_json_or_no_content_type_is_read(api: Api, path: str, body: object, content_type: str | None) -> None:
    headers = api.headers("checkpoint")
    if content_type is not None:
        headers["Content-Type"] = content_type
    resp = api.client.post(path, content=orjson.dumps(body), headers=headers)
    assert resp.status_code == 200, resp.text


def test_an_infinite_subject_in_a_batch_is_422(api: Api) -> None:
    # Defect: 1e999 parses as infinity; echoing it in the problem's JSON failed with a 500.
    raw = b'{"queries": [{"subject": 1e999, "action": "transport.air.ticket"}]}'
    headers = {**api.headers("checkpoint"), "Content-Type": "application/json"}
    for path in ("/v1/checks/batch", "/v1/checks"):
        body = raw if path.endswith("batch") else b'{"subject": 1e999, "action": "transport.air.ticket"}'
        err = problem(api.client.post(path, content=body, headers=headers), 422)
        loc = err["errors"][0]["loc"]
        assert loc[-1] == "subject" and err["errors"][0]["value"] in ("inf", "Infinity"), err


EDGES = ["0001-01-01", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "9999-12-31", "1899-12-31"]


@pytest.mark.parametrize("value", EDGES)
@pytest.mark.parametrize("field", ["at", "known_at"])
@pytest.mark.parametrize(("path", "body"), ROUTES)
def test_an_instant_at_the_edge_is_422_naming_the_field(
    api: Api, path: str, body: dict[str, object], field: str, value: str
) -> None:
    # Defect: these overflowed converting to UTC and answered 500.
    resp = api.client.post(path, json={**body, field: value}, headers=api.headers("registrar"))
    err = problem(resp, 422)
    assert err["errors"][0]["loc"] == ["body", field] and err["errors"][0]["value"] == value
    assert field in err["detail"]


def test_instants_inside_the_range_are_answered(api: Api) -> None:
    for value in ("1900-01-02", "2026-01-01T00:00:00+14:00", "8999-12-31T00:00:00Z"):
        resp = api.client.post("/v1/checks", json={**CHECK, "at": value}, headers=api.headers("registrar"))
        assert resp.status_code == 200, (value, resp.text)
