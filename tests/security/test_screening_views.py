"""Who sees what of a screening over HTTP (issue 17 point 2, decision 0910), and the upload route's limits.

Each test names the leak or the abuse it pins: a checkpoint reading the registry's file (record ids,
categories, linked subjects) through a screening it could not read through a check; a screener reading
identifiers in clear or listings the public is not shown; a key reading another key's job, or learning from
the status code that it exists; a client making the server read a 2 GB body; a screener looking up more
identifiers than its budget by putting them in one file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from screening_api import ScreenApi, csv_bytes, csv_rows, serve_screening
from security.test_key_views import FILE_FIELDS, _keys_in
from socialcredit.catalogue import Catalogue
from socialcredit.identifiers import mask
from socialcredit.store import Database
from socialcredit.store.tables import screenings
from test_api_helpers import OTHER, SUBJECT, problem

LIMIT = 64 * 1024


@pytest.fixture
def api(db: Database, catalogue: Catalogue, tmp_path: Path) -> Iterator[ScreenApi]:
    yield from serve_screening(
        db,
        catalogue,
        tmp_path / "screenings",
        screening_max_upload_bytes=LIMIT,
        screener_identifier_lookups_per_hour=3,
    )


def _jobs(api: ScreenApi) -> int:
    with api.db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(screenings)).scalar_one())


def _matches(rows: list[dict[str, Any]]) -> list[Any]:
    return [m for r in rows for m in r["matches"]]


def test_a_checkpoint_gets_per_row_the_decision_and_nothing_of_the_file(api: ScreenApi) -> None:
    _, data = api.screen("checkpoint", csv_bytes(), action="transport.air.ticket")
    rows = csv_rows(data)
    assert [r["status"] for r in rows] == ["hit", "clear", "clear", "invalid", "hit"]
    found = _matches(rows)
    assert not _keys_in(found) & set(FILE_FIELDS)
    assert "notes" not in _keys_in(found) and "court.judgment_defaulter" not in data.decode()
    assert all(m["decision"]["allowed"] is False for m in found)
    assert found[0]["subject_id"] == SUBJECT  # the identifier its row gave
    assert found[1]["subject_id"] == mask(SUBJECT) and SUBJECT not in json.dumps(found[1])  # found by name
    # OTHER's key-attention record has no effect on flights: a check would say "allowed", so does this.
    assert rows[1]["matches"] == [] and rows[1]["score"] in ("0.0", "0")


def test_a_registrar_sees_its_own_listings_whole_and_no_other_authoritys(api: ScreenApi) -> None:
    _, data = api.screen("registrar", csv_bytes())  # court, no action
    rows = csv_rows(data)
    assert rows[0]["matches"][0]["reasons"][0]["category"] == "court.judgment_defaulter"
    assert rows[1]["status"] == "clear" and "key_attention" not in data.decode()
    _, theirs = api.screen("registrar_other", csv_bytes())  # samr sees its own record, not the court's
    other = csv_rows(theirs)
    assert [r["status"] for r in other][:2] == ["clear", "hit"]
    assert "judgment_defaulter" not in theirs.decode()


def test_a_screener_sees_public_listings_only_with_masked_identifiers(api: ScreenApi) -> None:
    _, data = api.screen("screener", csv_bytes())
    rows = csv_rows(data)
    assert [r["status"] for r in rows] == ["hit", "clear", "clear", "invalid", "hit"]
    found = _matches(rows)
    assert {m["subject_id"] for m in found} == {mask(SUBJECT)}
    assert SUBJECT not in json.dumps(found) and OTHER not in json.dumps(found)
    assert not _keys_in(found) & {"record_id", "via", "via_subject", "decision", "reasons", "features"}
    assert found[0]["records"][0]["decision_no"]  # the public record fields
    assert "key_attention" not in data.decode()  # a listing the public is not shown stays unseen


def test_another_keys_job_is_404_exactly_as_no_job(api: ScreenApi) -> None:
    job, _ = api.screen("screener", csv_bytes())
    for path in (f"/v1/screenings/{job['id']}", f"/v1/screenings/{job['id']}/result"):
        theirs = api.client.get(path, headers=api.headers("screener_other"))
        none = api.client.get(path.replace(job["id"], "0" * 24), headers=api.headers("screener_other"))
        assert problem(theirs, 404)["detail"].replace(job["id"], "X") == problem(none, 404)["detail"].replace(
            "0" * 24, "X"
        )
    problem(api.client.get(f"/v1/screenings/{job['id']}", headers=api.headers("registrar")), 404)
    problem(api.client.get(f"/v1/screenings/{'9' * 5000}", headers=api.headers("screener")), 404)


def test_an_oversize_upload_is_413_by_content_length_before_a_byte_is_read(api: ScreenApi) -> None:
    h = {**api.headers("screener"), "Content-Type": "text/csv", "Content-Length": str(2 * 1024**3)}
    r = api.client.post("/v1/screenings", content=b"subject_id\n", headers=h)
    assert problem(r, 413)["detail"] == f"this endpoint accepts at most {LIMIT} bytes"
    assert _jobs(api) == 0 and not api.directory.exists()


def test_an_oversize_streamed_upload_is_413_and_leaves_no_file(api: ScreenApi) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        yield b"subject_id\n"
        for _ in range(40):
            yield b"x" * 4096 + b"\n"

    h = {**api.headers("screener"), "Content-Type": "text/csv"}
    problem(api.client.post("/v1/screenings", content=chunks(), headers=h), 413)
    assert _jobs(api) == 0 and not any(api.directory.iterdir())


def test_a_file_over_the_identifier_budget_is_refused_whole_before_any_lookup(api: ScreenApi) -> None:
    from factories import person_id

    four = [[str(i), person_id(200 + i), ""] for i in range(4)]
    r = api.upload("screener", csv_bytes(four))
    body = problem(r, 429)
    assert "at most 3 identifier lookups an hour per key; this request has 4" in body["detail"]
    assert int(r.headers["retry-after"]) > 0 and _jobs(api) == 0 and not any(api.directory.iterdir())
    # Nothing was taken: three distinct identifiers (one of them twice) still pass, and then the budget is spent.
    three = [*four[:3], ["dup", four[0][1], ""]]
    assert api.upload("screener", csv_bytes(three)).status_code == 202
    problem(api.upload("screener", csv_bytes(four[:1])), 429)
    assert api.upload("screener_other", csv_bytes(four[:1])).status_code == 202  # per key
    # Organisations' codes and names are public: they cost nothing.
    assert api.upload("screener", csv_bytes([["o", "", "王芳"]])).status_code in (202, 429)


def test_checkpoints_and_registrars_pay_no_identifier_budget(api: ScreenApi) -> None:
    from factories import person_id

    many = [[str(i), person_id(300 + i), ""] for i in range(10)]
    assert api.upload("checkpoint", csv_bytes(many), action="transport.air.ticket").status_code == 202
