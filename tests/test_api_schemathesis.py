"""Property-based testing of the whole API from its own /openapi.json (schemathesis, in-process over ASGI):
no response is a 5xx, and every response conforms to the documented schema, for callers with no key and with
keys of each role, on SQLite and PostgreSQL (the ``db`` fixture). Few examples: it runs in seconds.

The schema is loaded once at import from an app over a scratch SQLite file (the document does not depend on
the data); each test then sends its cases to an app over the ``db`` fixture's database (``app=``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from factories import row
from socialcredit.api import create_app
from socialcredit.catalogue import Catalogue, default_catalogue
from socialcredit.settings import Settings
from socialcredit.store import Database, upgrade
from test_api_helpers import SUBJECT, make_keys


def _document_app() -> FastAPI:
    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='sc-openapi-')) / 'doc.db'}"
    db = Database.open(url)
    upgrade(db.engine)
    return create_app(db, default_catalogue(), Settings(database_url=url))


schema = schemathesis.openapi.from_asgi("/openapi.json", _document_app())
# Screening uploads (POST /v1/screenings) take a file as the body: the generated binary strings are sent as
# they are, whichever format the Content-Type names.
schemathesis.serializer.alias(
    [
        "application/jsonl",
        "application/vnd.apache.parquet",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ],
    "application/octet-stream",
)


@pytest.fixture
def live(db: Database, catalogue: Catalogue) -> Any:
    """An app over the test database with one record, and headers for no key and for each role's key."""
    tokens = make_keys(db, catalogue)
    conf = Settings(
        database_url=str(db.engine.url),
        public_rate_limit=100_000,
        screening_dir=tempfile.mkdtemp(prefix="sc-screenings-"),
    )
    app = create_app(db, catalogue, conf)
    with TestClient(app) as client:
        client.post(
            "/v1/records",
            json=row(subject_id=SUBJECT),
            headers={"Authorization": f"Bearer {tokens['registrar']}"},
        )
    headers: dict[str, dict[str, str]] = {"none": {}}
    for r in ("registrar", "checkpoint", "subject", "screener", "auditor", "admin"):
        headers[r] = {"Authorization": f"Bearer {tokens[r]}", "X-Purpose": "schema test"}
    yield app, headers
    app.state.sc.close()


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_conforms(case: Any, live: Any) -> None:
    app, role_headers = live
    # Each generated request is sent as every audience: no key, then each role's key.
    for headers in role_headers.values():
        if case.headers:
            headers = {**headers, **{k: v for k, v in case.headers.items() if k.lower() == "x-purpose"}}
        case.call_and_validate(
            app=app, headers=headers, checks=[not_a_server_error, response_schema_conformance]
        )
