"""Shared pieces of the HTTP screening tests (no tests here): an app whose jobs write under a temporary
directory, keys of every screening role, three listings, an upload helper and a poll until the job ends."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from factories import person_id, row
from socialcredit.api import create_app
from socialcredit.catalogue import Catalogue
from socialcredit.keys import create_key
from socialcredit.settings import Settings
from socialcredit.store import Database
from test_api_helpers import OTHER, SUBJECT, make_keys

CLEAR = person_id(50)
HEADER = ["ref", "subject_id", "name"]
# Listed publicly (court, flight ban), listed but not public (samr key attention), clear, invalid, by name.
ROWS = [
    ["a", SUBJECT, ""],
    ["b", OTHER, ""],
    ["c", CLEAR, ""],
    ["d", "not-an-id", ""],
    ["e", "", "王芳"],
]


@dataclass
class ScreenApi:
    client: TestClient
    db: Database
    tokens: dict[str, str]
    directory: Path

    def headers(self, role: str, purpose: str | None = "sanctions screening") -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.tokens[role]}"}
        if purpose is not None:
            out["X-Purpose"] = purpose
        return out

    def upload(self, role: str, body: bytes, content_type: str = "text/csv", **params: Any) -> Any:
        h = {**self.headers(role), "Content-Type": content_type}
        return self.client.post("/v1/screenings", content=body, headers=h, params=params)

    def wait(self, role: str, job_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            r = self.client.get(f"/v1/screenings/{job_id}", headers=self.headers(role))
            assert r.status_code == 200, r.text
            job: dict[str, Any] = r.json()
            if job["status"] in ("done", "failed"):
                return job
            assert time.monotonic() < deadline, job
            time.sleep(0.05)

    def screen(self, role: str, body: bytes, **params: Any) -> tuple[dict[str, Any], bytes]:
        """Upload, wait until done, download: the job and the result's bytes."""
        r = self.upload(role, body, **params)
        assert r.status_code == 202, r.text
        job = self.wait(role, r.json()["id"])
        assert job["status"] == "done", job
        got = self.client.get(job["result"], headers=self.headers(role))
        assert got.status_code == 200, got.text
        return job, got.content


def csv_bytes(rows: list[list[str]] = ROWS, header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    return out.getvalue().encode()


def csv_rows(data: bytes) -> list[dict[str, Any]]:
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    for r in rows:
        r["matches"] = json.loads(r["matches"])
    return rows


def serve_screening(
    db: Database, catalogue: Catalogue, directory: Path, **settings: Any
) -> Iterator[ScreenApi]:
    tokens = make_keys(db, catalogue)
    with db.engine.begin() as conn:
        now = dt.datetime.now(dt.UTC)
        tokens["screener_other"] = create_key(conn, "screener", catalogue, now)[1]
    conf = Settings(
        database_url=str(db.engine.url), public_rate_limit=1000, screening_dir=str(directory), **settings
    )
    app = create_app(db, catalogue, conf)
    with TestClient(app, raise_server_exceptions=False) as client:
        api = ScreenApi(client, db, tokens, directory)
        _listings(api)
        yield api


def _listings(api: ScreenApi) -> None:
    """A court flight ban on SUBJECT (王芳, public), a samr key-attention record on OTHER (not public)."""
    for role, fields in (
        ("registrar", {}),
        ("registrar_other", {"authority": "samr", "category": "credit.key_attention", "external_id": "samr-1",
                             "subject_id": OTHER, "subject_name": "李四"}),
    ):  # fmt: skip
        r = api.client.post(
            "/v1/records", json=row(**fields), headers={"Authorization": f"Bearer {api.tokens[role]}"}
        )
        assert r.status_code == 201, r.text
