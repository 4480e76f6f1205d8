"""Screening over HTTP as a job (issue 17 point 2): upload, progress, download in the input's format, audit,
the job kept in the database (another app over the same store answers), and bad uploads refused with the field,
value and reason. Both stores (the ``db`` fixture). What each key sees: tests/security/test_screening_views.py."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from screening_api import CLEAR, HEADER, ROWS, ScreenApi, csv_bytes, csv_rows, serve_screening
from socialcredit.api import create_app
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app as cli
from socialcredit.settings import Settings
from socialcredit.store import Database
from socialcredit.store.tables import api_keys, audit_log
from test_api_helpers import SUBJECT, problem


@pytest.fixture
def api(db: Database, catalogue: Catalogue, tmp_path: Path) -> Iterator[ScreenApi]:
    yield from serve_screening(db, catalogue, tmp_path / "screenings")


def test_a_registrar_screens_a_csv_file_every_row_in_order(api: ScreenApi) -> None:
    r = api.upload("registrar", csv_bytes(), action="transport.air.ticket")
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/v1/screenings/{r.json()['id']}"
    assert r.json()["status"] in ("queued", "running") and r.json()["rows_total"] == len(ROWS)
    job = api.wait("registrar", r.json()["id"])
    assert job["status"] == "done" and job["rows_done"] == len(ROWS)
    assert job["counts"] == {"hit": 2, "possible_match": 0, "clear": 2, "invalid": 1}
    got = api.client.get(job["result"], headers=api.headers("registrar"))
    assert got.headers["content-type"].startswith("text/csv")
    rows = csv_rows(got.content)
    assert [x["ref"] for x in rows] == ["a", "b", "c", "d", "e"]
    assert [x["status"] for x in rows] == ["hit", "clear", "clear", "invalid", "hit"]
    assert rows[3]["reason"].startswith("subject_id:")
    (m,) = rows[0]["matches"]
    assert m["subject_id"] == SUBJECT and m["decision"]["allowed"] is False
    assert [x["category"] for x in m["reasons"]] == ["court.judgment_defaulter"]  # its own record, whole
    assert rows[4]["matches"][0]["matched_by"] == "name"


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "xlsx"])
def test_the_result_is_in_the_input_format(api: ScreenApi, fmt: str) -> None:
    records = [dict(zip(HEADER, r, strict=True)) for r in ROWS]
    if fmt == "jsonl":
        body = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in records).encode()
    elif fmt == "parquet":
        buf = io.BytesIO()
        pq.write_table(pa.table({c: [x[c] for x in records] for c in HEADER}), buf)
        body = buf.getvalue()
    else:
        wb = openpyxl.Workbook()
        ws = wb.active
        assert ws is not None
        ws.append(HEADER)
        for r in ROWS:
            ws.append(r)
        buf = io.BytesIO()
        wb.save(buf)
        body = buf.getvalue()
    job, data = api.screen("screener", body, format=fmt)
    assert job["format"] == fmt
    if fmt == "jsonl":
        statuses = [json.loads(line)["status"] for line in data.decode().splitlines()]
    elif fmt == "parquet":
        statuses = pq.read_table(io.BytesIO(data)).column("status").to_pylist()
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
        statuses = [c.value for c in sheet["D"]][1:]
    assert statuses == ["hit", "clear", "clear", "invalid", "hit"]


def test_every_screening_is_audited_with_digest_rows_and_hits(api: ScreenApi) -> None:
    body = csv_bytes()
    job, _ = api.screen("screener", body)
    assert job["sha256"] == hashlib.sha256(body).hexdigest() and job["bytes"] == len(body)
    with api.db.engine.connect() as conn:
        entries = conn.execute(select(audit_log).where(audit_log.c.action == "screen.file")).all()
    (e,) = [x for x in entries if job["id"] in x.target]
    assert e.actor == api.tokens["screener"].split("_")[1] and e.role == "screener"
    assert f"sha256:{job['sha256']}" in e.target
    assert e.outcome == "5 rows: 2 hits, 0 possible, 1 invalid"


def test_the_job_survives_in_the_database_another_app_answers(
    api: ScreenApi, db: Database, catalogue: Catalogue
) -> None:
    job, data = api.screen("screener", csv_bytes())
    conf = Settings(database_url=str(db.engine.url), screening_dir=str(api.directory))
    with TestClient(create_app(db, catalogue, conf)) as other:
        h = api.headers("screener")
        assert other.get(f"/v1/screenings/{job['id']}", headers=h).json()["status"] == "done"
        assert other.get(job["result"], headers=h).content == data


def test_the_upload_is_deleted_and_only_the_result_kept(api: ScreenApi) -> None:
    job, _ = api.screen("screener", csv_bytes())
    assert sorted(p.name for p in api.directory.iterdir()) == [f"{job['id']}.out.csv"]


@pytest.mark.parametrize(
    ("content_type", "params", "status", "loc"),
    [
        ("text/plain", {}, 415, ["header", "content-type"]),
        ("application/octet-stream", {}, 415, ["header", "content-type"]),
        ("text/csv", {"format": "docx"}, 422, ["query", "format"]),
        ("text/csv", {"threshold": "0"}, 422, ["query", "threshold"]),
        ("text/csv", {"action": "no.such.action"}, 422, ["query", "action"]),
    ],
)
def test_unknown_formats_and_bad_parameters_name_the_field(
    api: ScreenApi, content_type: str, params: dict[str, str], status: int, loc: list[str]
) -> None:
    body = problem(api.upload("registrar", csv_bytes(), content_type, **params), status)
    assert body["errors"][0]["loc"] == loc and body["errors"][0]["reason"]
    assert not api.directory.exists() or not any(api.directory.iterdir())


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "empty"),
        (b"ref,amount\nx,1\n", "missing header"),
        (b"name\n\xff\xff\n", "neither UTF-8"),
    ],
)
def test_a_file_screening_refuses_is_a_422_and_nothing_stays(api: ScreenApi, body: bytes, says: str) -> None:
    got = problem(api.upload("screener", body), 422)
    assert says in got["detail"] and got["errors"][0]["loc"] == ["body"]
    assert str(api.directory) not in got["detail"]  # the server's paths are not shown
    assert not any(api.directory.iterdir())


def test_roles_purpose_and_action_rules(api: ScreenApi) -> None:
    for role in ("subject", "auditor", "admin"):
        problem(api.upload(role, csv_bytes()), 403)
    problem(api.client.post("/v1/screenings", content=csv_bytes(), headers={"Content-Type": "text/csv"}), 401)
    no_purpose = {"Authorization": api.headers("checkpoint")["Authorization"], "Content-Type": "text/csv"}
    problem(
        api.client.post("/v1/screenings?action=transport.air.ticket", content=b"x", headers=no_purpose), 422
    )
    assert problem(api.upload("checkpoint", csv_bytes()), 422)["errors"][0]["loc"] == ["query", "action"]
    problem(api.upload("checkpoint", csv_bytes(), action="transport.rail"), 403)
    assert (
        problem(api.upload("screener", csv_bytes(), action="transport.air.ticket"), 422)["errors"][0]["value"]
        == "transport.air.ticket"
    )


def test_a_key_has_at_most_two_jobs_in_flight(api: ScreenApi) -> None:
    big = csv_bytes([[str(i), CLEAR, ""] for i in range(30_000)])
    first = [api.upload("screener", big) for _ in range(2)]
    assert all(r.status_code == 202 for r in first)
    third = api.upload("screener", csv_bytes())
    if third.status_code == 202:  # the first two finished already on a fast machine
        return
    assert problem(third, 429)["detail"].startswith("at most 2 screenings uploading, queued or running")
    assert api.upload("screener_other", csv_bytes()).status_code == 202  # per key


def test_keys_create_role_screener(db: Database) -> None:
    out = CliRunner().invoke(cli, ["keys", "create", "--role", "screener", "--label", "compliance"])
    assert out.exit_code == 0, out.output
    with db.engine.connect() as conn:
        assert (
            conn.execute(select(api_keys.c.role).where(api_keys.c.label == "compliance")).scalar()
            == "screener"
        )


def test_uploads_still_arriving_count_against_the_two(
    api: ScreenApi, db: Database, catalogue: Catalogue
) -> None:
    """Two slow uploads of one key hold its two places while they stream: a third is refused before it is
    read, so one key cannot fill the disk with bodies it never finishes."""
    from socialcredit.screening.jobs import Jobs

    jobs = Jobs(db.engine, catalogue, api.directory)
    assert jobs.reserve("k1") and jobs.reserve("k1")
    assert not jobs.reserve("k1") and jobs.reserve("k2")
    jobs.release("k1")
    assert jobs.reserve("k1")
