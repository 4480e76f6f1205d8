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
from sqlalchemy import func, select
from typer.testing import CliRunner

from factories import row
from screening_api import CLEAR, HEADER, ROWS, ScreenApi, csv_bytes, csv_rows, serve_screening
from socialcredit.api import create_app
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app as cli
from socialcredit.identifiers import mask
from socialcredit.settings import Settings
from socialcredit.store import Database
from socialcredit.store.tables import api_keys, audit_log, screening_watch_rows, screening_watches
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


# --- save=NAME: the job saves the screening for the uploading key (issue 17 point 6, decision 0916) -------------

RUNS = "/v1/screening-watchlists/{}/runs"


def _file_on_clear(api: ScreenApi) -> None:
    """A court record on CLEAR (row 3 of ROWS), public: it touches that row and no other."""
    fields = row(subject_id=CLEAR, subject_name="赵六", external_id="(2025)京0105执200号")
    r = api.client.post(
        "/v1/records", json=fields, headers={"Authorization": f"Bearer {api.tokens['registrar']}"}
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("role", "params"),
    [("registrar", {}), ("checkpoint", {"action": "transport.air.ticket"}), ("screener", {})],
)
def test_save_keeps_the_screening_for_the_key_and_a_run_reports_the_row_a_record_touched(
    api: ScreenApi, role: str, params: dict[str, str]
) -> None:
    job, _ = api.screen(role, csv_bytes(), save="book", **params)
    assert job["counts"]["invalid"] == 1
    with api.db.engine.connect() as conn:
        (e,) = conn.execute(
            select(audit_log).where(
                audit_log.c.action == "screen.file", audit_log.c.target.contains(job["id"])
            )
        ).all()
        saved = conn.execute(select(screening_watches).where(screening_watches.c.name == "book")).one()
    assert e.target.endswith(" saved:book") and e.outcome.startswith("5 rows")
    assert saved.owner == api.tokens[role].split("_")[1] and saved.rows == 5
    assert saved.view == ("public" if role == "screener" else "full") and saved.action == params.get("action")

    first = api.client.post(RUNS.format("book"), headers=api.headers(role))
    assert first.status_code == 200, first.text
    assert first.json()["changes"] == []  # nothing changed since the upload
    _file_on_clear(api)
    r = api.client.post(RUNS.format("book"), headers=api.headers(role))
    assert r.status_code == 200, r.text
    changes = r.json()["changes"]
    assert [c["row"] for c in changes] == [3] and r.json()["summary"]["rescored"] == 1
    if role == "checkpoint":
        assert changes[0]["allowed_before"] is True and changes[0]["allowed"] is False
        assert CLEAR not in str(changes)
    else:
        assert changes[0]["change"] == "newly_hit"
        shown = changes[0]["matches"][0]["subject_id"]
        assert shown == (mask(CLEAR) if role == "screener" else CLEAR)

    # Any other key: the 404 of a name never saved, to run it or read its report.
    for other in ("registrar_other", "screener_other", "checkpoint", "registrar"):
        if other == role:
            continue
        for method, path in (("post", RUNS.format("book")), ("get", RUNS.format("book") + "/last")):
            got = problem(api.client.request(method, path, headers=api.headers(other)), 404)
            never = problem(
                api.client.request(method, path.replace("book", "none"), headers=api.headers(other)), 404
            )
            assert got["detail"].replace("book", "X") == never["detail"].replace("none", "X")


def test_a_taken_name_is_a_409_before_the_upload_is_read_another_key_may_use_it(api: ScreenApi) -> None:
    api.screen("screener", csv_bytes(), save="book")
    before = sorted(api.directory.iterdir())
    got = problem(api.upload("screener", b"not,read\n" * 10, save="book"), 409)
    assert "'book'" in got["detail"] and "exists" in got["detail"]
    assert sorted(api.directory.iterdir()) == before
    api.screen("screener_other", csv_bytes(), save="book")  # names are per key
    with api.db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(screening_watches)).scalar_one() == 2


@pytest.mark.parametrize("name", ["", "..", "-x", "a b", "名单", "a/b", "%00", "a" * 101, "a" * 5000])
def test_a_bad_name_is_a_422_naming_save_and_nothing_is_kept(api: ScreenApi, name: str) -> None:
    body = problem(api.upload("registrar", csv_bytes(), save=name), 422)
    assert body["errors"][0]["loc"] == ["query", "save"]
    assert not api.directory.exists() or not any(api.directory.iterdir())
    with api.db.engine.connect() as conn:
        for t in (screening_watches, screening_watch_rows):
            assert conn.execute(select(func.count()).select_from(t)).scalar_one() == 0


def test_a_run_that_loses_the_name_to_an_earlier_one_fails_and_leaves_no_rows(api: ScreenApi) -> None:
    """Two uploads saving one name, both accepted while the first runs: the second fails at the end, saying
    why, and its rows go (only the first's stay)."""
    big = csv_bytes([[str(i), CLEAR, ""] for i in range(20_000)])
    first = api.upload("registrar", big, save="book")
    second = api.upload("registrar", csv_bytes(), save="book")
    assert first.status_code == 202, first.text
    if second.status_code == 409:
        pytest.skip("the first was saved before the second upload arrived (a fast machine)")
    assert api.wait("registrar", first.json()["id"])["status"] == "done"
    job = api.wait("registrar", second.json()["id"])
    assert job["status"] == "failed" and "save: 'book'" in job["error"] and "exists" in job["error"]
    with api.db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(screening_watch_rows)).scalar_one() == 20_000
        outcome = conn.execute(
            select(audit_log.c.outcome).where(audit_log.c.target.contains(second.json()["id"]))
        ).scalar_one()
    assert outcome.startswith("failed: save: 'book'")
