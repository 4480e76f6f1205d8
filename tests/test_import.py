"""``socialcredit import`` through the CLI, on both databases.

Every bad input exits 2 with ``FILE:LINE: field: reason`` naming the field and the value, and leaves the store
exactly as it was: each such test dumps every table before and after and compares.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner, Result

from factories import org_id, person_id, row
from socialcredit.cli import app
from socialcredit.store import Database, metadata
from socialcredit.store.tables import record_events, records

runner = CliRunner()


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the audit log (each import adds its entry, test_import_audit.py), sorted:
    the whole store, to compare before and after."""
    with db.engine.connect() as conn:
        return {
            t.name: sorted((tuple(r) for r in conn.execute(select(t))), key=repr)
            for t in metadata.sorted_tables
            if t.name != "audit_log"
        }


def invoke(*args: str) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def jsonl(path: Path, rows: list[dict[str, Any]] | list[str]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
    return path


def csv_file(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Path:
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, columns)
        w.writeheader()
        w.writerows(rows)
    return path


def good_rows(n: int = 3) -> list[dict[str, Any]]:
    return [row(external_id=f"(2025)京0105执{i}号", subject_id=person_id(i)) for i in range(n)]


@pytest.fixture
def seeded(db: Database, tmp_path: Path) -> Database:
    """A store holding one record already, so "unchanged" means more than "still empty"."""
    result = invoke("import", jsonl(tmp_path / "seed.jsonl", [row(external_id="SEED")]), "--no-progress")
    assert result.exit_code == 0, result.output
    return db


# --- happy paths ------------------------------------------------------------------------------------------


def test_jsonl_import(db: Database, tmp_path: Path) -> None:
    result = invoke("import", jsonl(tmp_path / "r.jsonl", good_rows()), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "3 rows" in result.stdout and "3 filed, 0 amended, 0 unchanged, 0 rejected" in result.stdout
    assert len(dump(db)["records"]) == 3


def test_csv_import_with_empty_optional_cells(db: Database, tmp_path: Path) -> None:
    rows = [dict(r, summary="", legal_basis="") for r in good_rows(2)]
    rows.append(
        row(
            external_id="ORG",
            subject_id=org_id(1),
            legal_representative_id=person_id(7),
            legal_representative_name="李四",
            summary="公司",
            legal_basis="某法第一条",
        )
    )
    result = invoke("import", csv_file(tmp_path / "r.csv", rows), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "3 filed" in result.stdout
    with db.engine.connect() as conn:
        got = {r.external_id: r for r in conn.execute(select(records))}
    assert got["ORG"].legal_representative_id == person_id(7) and got["ORG"].legal_basis == "某法第一条"
    assert got[rows[0]["external_id"]].legal_basis.startswith("最高人民法院")  # empty cell: category default


def test_reimport_is_idempotent_and_a_changed_row_is_an_amendment(db: Database, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", good_rows())
    assert invoke("import", path, "--no-progress").exit_code == 0
    before = dump(db)
    again = invoke("import", path, "--no-progress")
    assert again.exit_code == 0 and "0 filed, 0 amended, 3 unchanged" in again.stdout
    assert dump(db) == before
    changed = good_rows()
    changed[1]["summary"] = "已部分履行"
    result = invoke("import", jsonl(tmp_path / "r2.jsonl", changed), "--no-progress")
    assert result.exit_code == 0 and "0 filed, 1 amended, 2 unchanged" in result.stdout
    with db.engine.connect() as conn:
        types = [t for (t,) in conn.execute(select(record_events.c.type).order_by(record_events.c.seq))]
        assert types == ["filed", "filed", "filed", "amended"]
        assert len(conn.execute(select(records)).all()) == 3


def test_skip_invalid_imports_good_rows_and_writes_rejects(seeded: Database, tmp_path: Path) -> None:
    rows = good_rows(3)
    rows[1]["category"] = "court.nothing"
    path = jsonl(tmp_path / "mixed.jsonl", rows)
    result = invoke("import", path, "--skip-invalid", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "2 filed, 0 amended, 0 unchanged, 1 rejected" in result.stdout
    rejects = [
        json.loads(x) for x in (tmp_path / "mixed.jsonl.rejects.jsonl").read_text("utf-8").splitlines()
    ]
    assert rejects == [{"line": 2, "row": rows[1], "errors": ["category: 'court.nothing': unknown category"]}]
    assert len(dump(seeded)["records"]) == 3


# --- bad input: exit 2, a precise message, the store unchanged ---------------------------------------------


def refused(db: Database, path: Path, *expected: str, options: tuple[str, ...] = ()) -> str:
    before = dump(db)
    result = invoke("import", path, "--no-progress", *options)
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in result.stderr, result.stderr
    assert "nothing was imported" in result.stderr or "error:" in result.stderr
    assert dump(db) == before
    return result.stderr


_GOOD = person_id(11)
_BAD = _GOOD[:17] + ("0" if _GOOD[17] != "0" else "1")
ROW_CASES = [
    (
        {"subject_id": _BAD},
        f"subject_id: '{_BAD}': check character: expected '{_GOOD[17]}', found '{_BAD[17]}'",
    ),
    ({"subject_id": "11010519800101"}, "subject_id: '11010519800101': length: expected 18 characters"),
    ({"category": "court.nothing"}, "category: 'court.nothing': unknown category"),
    ({"authority": "nobody"}, "authority: 'nobody': unknown authority"),
    (
        {"authority": "samr"},
        "authority: 'samr': may not file category 'court.judgment_defaulter' (filed by: court)",
    ),
    ({"decided_on": "2025-02-30"}, "decided_on: '2025-02-30': not a real date (YYYY-MM-DD)"),
    ({"decided_on": "2099-01-01"}, "decided_on: '2099-01-01': in the future"),
    ({"effective_from": "9999-12-30"}, "effective_from: '9999-12-30': out of range: expected 1900-01-01 to"),
    ({"effective_until": "2025-01-01"}, "effective_until: '2025-01-01': before effective_from"),
    ({"colour": "red"}, "colour: 'red': unknown column (known: external_id, authority,"),
    (  # the closest column is named, as the catalogue names the closest field (issue 16, item 7)
        {"legal_bassis": "x"},
        "legal_bassis: 'x': unknown column (misspelt? the closest known column is 'legal_basis'; known: ",
    ),
]


@pytest.mark.parametrize(
    ("override", "message"), ROW_CASES, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(ROW_CASES)]
)
def test_bad_row_refuses_the_whole_file(
    seeded: Database, tmp_path: Path, override: dict[str, Any], message: str
) -> None:
    rows = good_rows(3)
    rows[1].update(override)
    path = jsonl(tmp_path / "bad.jsonl", rows)
    refused(seeded, path, f"{path}:2: {message}", "3 rows", "1 rejected")


def test_every_bad_row_is_listed(seeded: Database, tmp_path: Path) -> None:
    rows = good_rows(4)
    rows[0]["category"] = "x.y"
    rows[3]["decided_on"] = "June"
    path = jsonl(tmp_path / "bad.jsonl", rows)
    refused(seeded, path, f"{path}:1: category: 'x.y'", f"{path}:4: decided_on: 'June'", "2 rejected")


def test_bad_row_in_csv(seeded: Database, tmp_path: Path) -> None:
    rows = good_rows(2)
    rows[1]["authority"] = "samr"
    path = csv_file(tmp_path / "bad.csv", rows)
    refused(seeded, path, f"{path}:3: authority: 'samr': may not file category")


def test_duplicate_key_in_one_file(seeded: Database, tmp_path: Path) -> None:
    rows = good_rows(3)
    rows[2]["external_id"] = rows[0]["external_id"]
    rows[2]["subject_id"] = person_id(99)
    path = jsonl(tmp_path / "dup.jsonl", rows)
    refused(
        seeded,
        path,
        f"{path}:3: external_id: '{rows[0]['external_id']}': the same authority and external_id as line 1",
    )


def test_bad_json_line(seeded: Database, tmp_path: Path) -> None:
    lines = [json.dumps(r, ensure_ascii=False) for r in good_rows(3)]
    lines[1] = lines[1][:-1]  # drop the closing brace
    path = jsonl(tmp_path / "bad.jsonl", lines)
    refused(seeded, path, f"{path}:2: invalid JSON: Expecting ',' delimiter at column")


@pytest.mark.parametrize("workers", ["0", "2"])
def test_import_messages_read_as_written(seeded: Database, tmp_path: Path, workers: str) -> None:
    # Defects pinned (issue 16, item 10), in process and in the workers alike: "invalid JSON: Invalid control
    # character at at column 263" (a doubled word); "subject_name: None: required" (a Python repr); a line that
    # is valid JSON but no object was a rejected row, where docs/import.md makes it a file error.
    opts = ("--workers", workers)
    good = [json.dumps(r, ensure_ascii=False) for r in good_rows(3)]
    control = [good[0], good[1].replace("王芳", "王\t芳"), good[2]]  # a raw tab inside a JSON string
    path = jsonl(tmp_path / "control.jsonl", control)
    err = refused(seeded, path, f"{path}:2: invalid JSON: Invalid control character at column", options=opts)
    assert "at at" not in err
    missing = good_rows(3)
    del missing[1]["subject_name"]
    path = jsonl(tmp_path / "missing.jsonl", missing)
    err = refused(seeded, path, f"{path}:2: subject_name: required", options=opts)
    assert "None" not in err
    for line in ("[1, 2]", '"a row"', "42", "null"):
        path = jsonl(tmp_path / "not-object.jsonl", [*good[:2], line, good[2]])
        err = refused(seeded, path, f"{path}:3: a row must be an object of column: value", options=opts)
        assert "rejected" not in err


def test_values_only_the_standard_json_reader_accepts(seeded: Database, tmp_path: Path) -> None:
    """NaN and integers over 64 bits are valid for Python's JSON reader, not for the fast one: the row is read
    anyway and refused for its field, never as invalid JSON."""
    lines = [json.dumps(r, ensure_ascii=False) for r in good_rows(3)]
    lines[1] = lines[1].replace('"subject_name": "', '"subject_name": NaN, "x_": "', 1)
    lines[1] = lines[1].replace('"x_": ', '"summary": ', 1)
    lines[2] = lines[2][:-1] + ', "summary": 123456789012345678901234567890}'
    path = jsonl(tmp_path / "bad.jsonl", lines)
    refused(
        seeded,
        path,
        f"{path}:2: subject_name: nan: expected text, found float",
        f"{path}:3: summary: 123456789012345678901234567890: expected text, found int",
    )


def test_a_lone_surrogate_escape_is_refused_for_its_field(seeded: Database, tmp_path: Path) -> None:
    """\\ud800 alone is valid JSON but no character (it cannot be stored or hashed as UTF-8): the row is refused
    naming the field, on both paths, and a rejects file keeps it as its JSON escape."""
    from socialcredit.catalogue import default_catalogue
    from socialcredit.registry import import_file

    lines = [json.dumps(r, ensure_ascii=False) for r in good_rows(3)]
    lines[1] = lines[1].replace('"subject_name": "', '"subject_name": "\\ud800', 1)
    path = jsonl(tmp_path / "bad.jsonl", lines)
    name = json.loads(lines[1])["subject_name"]
    refused(seeded, path, f"{path}:2: subject_name: {name!r}: contains a lone surrogate U+D800")
    cat = default_catalogue()
    for workers in (0, 2):
        done = import_file(seeded.engine, path, cat, "t", workers=workers, skip_invalid=True)
        assert (done.rejected, done.committed) == (1, True)
        kept = (tmp_path / "bad.jsonl.rejects.jsonl").read_text("utf-8")
        assert json.loads(kept)["row"]["subject_name"] == name


def test_row_that_is_not_an_object(seeded: Database, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "bad.jsonl", [json.dumps(good_rows(1)[0]), "[1, 2]"])
    refused(seeded, path, f"{path}:2: a row must be an object of column: value")


def test_broken_csv_quoting(seeded: Database, tmp_path: Path) -> None:
    path = csv_file(tmp_path / "bad.csv", good_rows(2))
    with path.open("a", encoding="utf-8") as fh:
        fh.write('X1,court,court.judgment_defaulter,"110105198001010111,王芳,(2024)1,2025-06-01\n')
    refused(
        seeded, path, f"{path}:4: broken CSV quoting: unexpected end of data; a quoted field is never closed"
    )


def test_wrong_number_of_csv_fields(seeded: Database, tmp_path: Path) -> None:
    path = csv_file(tmp_path / "bad.csv", good_rows(2))
    with path.open("a", encoding="utf-8") as fh:
        fh.write("X1,court,court.judgment_defaulter\n")
    refused(seeded, path, f"{path}:4: row: expected 7 fields (as in the header), found 3")


@pytest.mark.parametrize("encoding", ["gbk", "latin-1"])
def test_wrong_encoding(seeded: Database, tmp_path: Path, encoding: str) -> None:
    r = [
        row(external_id=f"E{i}", subject_id=person_id(i), subject_name="Wang", decision_no=f"D{i}")
        for i in range(2)
    ]
    r[1]["subject_name"] = "王芳" if encoding == "gbk" else "Müller"
    path = tmp_path / "bad.jsonl"
    path.write_bytes("\n".join(json.dumps(x, ensure_ascii=False) for x in r).encode(encoding))
    refused(seeded, path, f"{path}:2: encoding: expected UTF-8, found byte 0x", "re-save the file as UTF-8")


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.csv"])
def test_empty_file(seeded: Database, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("\n" if name.endswith("jsonl") else "", encoding="utf-8")
    refused(seeded, path, f"{path}: empty file")


def test_header_only_csv(seeded: Database, tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("external_id,authority\n", encoding="utf-8")
    refused(seeded, path, f"{path}: empty file: a header but no rows")


def test_unknown_csv_column(seeded: Database, tmp_path: Path) -> None:
    rows = [dict(r, colour="red") for r in good_rows(2)]
    path = csv_file(tmp_path / "bad.csv", rows)
    refused(seeded, path, f"{path}:1: colour: unknown column (known: external_id,")


def test_csv_column_twice(seeded: Database, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("external_id,authority,external_id\nA,court,A\n", encoding="utf-8")
    refused(seeded, path, f"{path}:1: external_id: the column appears twice in the header")


def test_unsupported_or_missing_file(seeded: Database, tmp_path: Path) -> None:
    path = tmp_path / "rows.xlsx"
    path.write_text("x", encoding="utf-8")
    refused(seeded, path, f"{path}: file type: expected .jsonl, .ndjson or .csv, found '.xlsx'")
    missing = invoke("import", tmp_path / "missing.jsonl", "--no-progress")
    assert (
        missing.exit_code == 3 and "missing.jsonl: no such file" in missing.stderr
    )  # not found: decision 0700


def test_worker_processes_give_the_same_result(db: Database, tmp_path: Path) -> None:
    """The parallel path (used for large files) reports and stores exactly what the in-process one does."""
    from socialcredit.catalogue import default_catalogue
    from socialcredit.registry import import_file

    cat = default_catalogue()
    rows = good_rows(5)
    rows[1]["category"] = "x.y"
    rows[3]["external_id"] = rows[0]["external_id"]
    bad = jsonl(tmp_path / "bad.jsonl", rows)
    before = dump(db)
    reports = [import_file(db.engine, bad, cat, "t", workers=w) for w in (0, 2)]
    assert reports[0].errors == reports[1].errors and len(reports[0].errors) == 2
    assert not reports[1].committed and dump(db) == before

    good = jsonl(tmp_path / "good.jsonl", good_rows(5))
    done = import_file(db.engine, good, cat, "t", workers=2)
    assert (done.committed, done.filed) == (True, 5)
    again = import_file(db.engine, good, cat, "t", workers=0)
    assert again.unchanged == 5  # the same content hashes and texts on both paths
    changed = good_rows(5)
    changed[0]["summary"] = "changed"
    changed[2]["summary"] = "changed"
    # Workers send a row's byte offset; an amendment reads its line again (here the first, after a byte-order
    # mark, and lines ending CRLF).
    lines = [json.dumps(r, ensure_ascii=False) for r in changed]
    (tmp_path / "changed.jsonl").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    amended = import_file(db.engine, tmp_path / "changed.jsonl", cat, "t", workers=2)
    assert (amended.amended, amended.unchanged) == (2, 3), amended
    with db.engine.connect() as conn:
        summaries = dict(conn.execute(select(records.c.external_id, records.c.summary)).all())
    assert [summaries[r["external_id"]] == "changed" for r in changed] == [True, False, True, False, False]
    rejected = []
    for workers in (2, 0):
        skipped = import_file(db.engine, bad, cat, "t", workers=workers, skip_invalid=True)
        assert (skipped.rejected, skipped.committed) == (2, True)
        rejected.append((tmp_path / "bad.jsonl.rejects.jsonl").read_text("utf-8"))
    assert rejected[0] == rejected[1]  # the repeated key's row, read again by its offset, as the row itself
    assert json.loads(rejected[0].splitlines()[1])["row"] == rows[3]


def test_csv_through_worker_processes_as_in_process(db: Database, tmp_path: Path) -> None:
    """A CSV file reaches the workers as chunks of parsed rows: the same errors, rejects and stored records as
    checking in the importing process, empty cells and a quoted field with a newline included."""
    from socialcredit.catalogue import default_catalogue
    from socialcredit.registry import import_file

    cat = default_catalogue()
    rows = good_rows(4)
    rows[1]["summary"] = "第一行\n第二行, with a comma"
    rows[2]["category"] = "x.y"
    for r in rows:
        r.setdefault("legal_basis", "")
    path = csv_file(tmp_path / "rows.csv", rows)
    before = dump(db)
    refused = [import_file(db.engine, path, cat, "t", workers=w) for w in (0, 2)]
    # The third row starts on line 5: the second one's quoted summary spans two lines.
    assert refused[0].errors == refused[1].errors == [f"{path}:5: category: 'x.y': unknown category"]
    assert dump(db) == before
    stored = []
    for w in (2, 0):
        done = import_file(db.engine, path, cat, "t", workers=w, skip_invalid=True)
        assert (done.filed, done.rejected, done.committed) == ((3, 1, True) if w else (0, 1, True))
        stored.append(dump(db))
        rejects = (tmp_path / "rows.csv.rejects.jsonl").read_text("utf-8")
        assert json.loads(rejects)["line"] == 5
    assert stored[0] == stored[1]  # the second import found every row unchanged
    with db.engine.connect() as conn:
        summaries = dict(conn.execute(select(records.c.external_id, records.c.summary)).all())
    assert summaries[rows[1]["external_id"]] == "第一行\n第二行, with a comma"


def _worker_pids() -> list[int]:
    """This process's import workers, found in /proc."""
    import os

    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and b"registry.workers" in cmdline:
            found.append(int(entry))
    return found


def test_a_worker_killed_mid_import_fails_it_and_changes_nothing(seeded: Database, tmp_path: Path) -> None:
    """A worker process killed (by an operator, or for memory) ends the import with exit 2 and a message naming
    it, the transaction rolled back; without it the import would wait for the lost answer for ever."""
    import os
    import signal
    import threading
    import time

    path = jsonl(tmp_path / "many.jsonl", good_rows(20_000))
    before = dump(seeded)
    killed: list[int] = []

    def kill_the_worker() -> None:
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            for pid in _worker_pids():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.002)

    killer = threading.Thread(target=kill_the_worker)
    killer.start()
    result = invoke("import", path, "--workers", "1", "--no-progress")
    killer.join()
    assert killed
    assert result.exit_code == 2, result.output
    assert "an import worker process stopped (exit code -9); nothing was imported" in result.output
    assert dump(seeded) == before


def test_the_import_leaves_the_collector_as_it_found_it(db: Database, tmp_path: Path) -> None:
    """An import collects cycles less often while it runs (its results hold many young objects), and gives the
    process its own thresholds back afterwards, whether the file was imported or refused."""
    import gc

    from socialcredit.catalogue import default_catalogue
    from socialcredit.registry import FileInvalid, import_file

    cat = default_catalogue()
    before = gc.get_threshold()
    done = import_file(db.engine, jsonl(tmp_path / "good.jsonl", good_rows(3)), cat, "t", workers=0)
    assert done.committed and gc.get_threshold() == before
    (tmp_path / "broken.jsonl").write_text("{\n", encoding="utf-8")
    with pytest.raises(FileInvalid):
        import_file(db.engine, tmp_path / "broken.jsonl", cat, "t", workers=0)
    assert gc.get_threshold() == before
    # Imports that overlap in one process (threads): the setting comes back when the last one ends.
    from socialcredit.registry.importer import _Collector

    _Collector.enter()
    _Collector.enter()
    _Collector.leave()
    assert gc.get_threshold()[0] >= 10_000
    _Collector.leave()
    assert gc.get_threshold() == before


@pytest.mark.parametrize("block", [64, 1 << 18])
def test_worker_blocks_read_files_as_the_in_process_reader(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """The worker processes read JSON lines in blocks of bytes; a block of 64 bytes cuts every line. Each bad file
    is refused with the in-process reader's message, and a good one with a byte-order mark, CRLF line ends and
    blank lines imports the same records."""
    from socialcredit.catalogue import default_catalogue
    from socialcredit.registry import FileInvalid, import_file, importer

    monkeypatch.setattr(importer, "_BLOCK", block)
    cat = default_catalogue()
    lines = [json.dumps(r, ensure_ascii=False) for r in good_rows(4)]
    bad_files = {
        "blank.jsonl": b"\n \r\n\n",
        "json.jsonl": ("\n".join([lines[0], "", lines[1], "{not json", lines[2]]) + "\n").encode(),
        "gbk.jsonl": ("\n".join([lines[0], lines[1], lines[2].replace("京", "沪")]) + "\n").encode()[:-2]
        + "沪".encode("gbk")
        + b"\n",
        "gbk-mid.jsonl": (lines[0] + "\n").encode() + lines[1].encode("gbk") + ("\n" + lines[2]).encode(),
    }
    before = dump(db)
    for name, data in bad_files.items():
        path = tmp_path / name
        path.write_bytes(data)
        messages = []
        for workers in (0, 2):
            with pytest.raises(FileInvalid) as exc:
                import_file(db.engine, path, cat, "t", workers=workers)
            messages.append(str(exc.value))
        assert messages[0] == messages[1], name
        assert messages[0].startswith(f"{path}:"), messages[0]
        assert dump(db) == before
    good = tmp_path / "good.jsonl"
    good.write_bytes(b"\xef\xbb\xbf" + "\r\n\r\n".join(lines).encode() + b"\r\n\n")
    done = import_file(db.engine, good, cat, "t", workers=2)
    assert (done.rows, done.filed, done.committed) == (4, 4, True)
    again = import_file(db.engine, good, cat, "t", workers=0)
    assert (again.rows, again.unchanged) == (4, 4)
    bad = tmp_path / "bad-rows.jsonl"
    stranger = json.dumps(dict(good_rows(4)[1], authority="nowhere"), ensure_ascii=False)
    bad.write_text("\n".join([lines[0], stranger, lines[3]]) + "\n", "utf-8")
    reports = [import_file(db.engine, bad, cat, "t", workers=w) for w in (0, 2)]
    assert reports[0].errors == reports[1].errors == [f"{bad}:2: authority: 'nowhere': unknown authority"]


@given(
    lines=st.lists(st.binary(max_size=200).map(lambda b: b.replace(b"\n", b"")), max_size=30),
    ended=st.booleans(),
    block=st.integers(min_value=1, max_value=64),
)
@settings(max_examples=200, deadline=None)
def test_blocks_are_whole_lines_numbered_from_their_first(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes], ended: bool, block: int
) -> None:
    """However the block size cuts the file (lines many blocks long included), the blocks put back together are
    the file, each ends at a newline but the last, and each is numbered by its first line."""
    from socialcredit.registry import importer

    data = b"\n".join(lines) + (b"\n" if ended and lines else b"")
    path = tmp_path_factory.mktemp("blocks") / "rows.jsonl"
    path.write_bytes(data)
    old, importer._BLOCK = importer._BLOCK, block
    try:
        blocks = list(importer._blocks(path, None))
    finally:
        importer._BLOCK = old
    assert b"".join(b for _, _, b in blocks) == data
    assert all(b.endswith(b"\n") for _, _, b in blocks[:-1]) and all(b for _, _, b in blocks)
    start = 0
    for n, at, b in blocks:
        assert n == 1 + data[:start].count(b"\n")
        assert at == start
        start += len(b)


def _consistent(db: Database) -> None:
    """Events numbered 1..N without a gap, one outbox row each, every record at its newest event's number, each
    subject named by a record stored once, and the records table exactly what the events rebuild."""
    from sqlalchemy import func

    from socialcredit.registry.projection import rebuild
    from socialcredit.store.tables import outbox, subjects

    with db.engine.connect() as conn:
        count, top = conn.execute(select(func.count(), func.max(record_events.c.seq))).one()
        assert count == top
        assert conn.execute(select(func.count()).select_from(outbox)).scalar() == count
        seq = record_events.c.seq
        newest = dict(
            conn.execute(select(record_events.c.record_id, func.max(seq)).group_by("record_id")).all()
        )
        assert dict(conn.execute(select(records.c.id, records.c.version)).all()) == newest
        named = set()
        for r in conn.execute(select(records.c.subject_id, records.c.legal_representative_id)):
            named.update(x for x in r if x)
        stored = [sid for (sid,) in conn.execute(select(subjects.c.id))]
        assert len(stored) == len(set(stored)) and named <= set(stored)
        before = sorted(conn.execute(select(records)).all(), key=repr)
        rebuild(conn)
        assert sorted(conn.execute(select(records)).all(), key=repr) == before
        conn.rollback()


def _org_rows(start: int, stop: int, summary: str = "s") -> list[dict[str, Any]]:
    """Organisations whose legal representatives recur every seven rows (so across batches), some of them also
    persons listed in their own right earlier in the file."""
    return [
        row(
            external_id=f"ORG-{i}",
            authority="samr",
            category="food_drug.serious_violation",
            subject_id=org_id(i),
            subject_name=f"公司{i}",
            legal_representative_id=person_id(i % 7),
            legal_representative_name="代表",
            summary=summary,
        )
        for i in range(start, stop)
    ]


def test_many_batches_new_unchanged_and_amended(db: Database, tmp_path: Path) -> None:
    """Several batches of a thousand: new subjects named again in the next batch, a batch of unchanged rows, a
    batch with amendments between batches of new rows; and a bad row after three batches leaves the store as it
    was."""
    from socialcredit.catalogue import default_catalogue
    from socialcredit.registry import import_file

    cat = default_catalogue()
    persons = [row(external_id=f"P-{i}", subject_id=person_id(i)) for i in range(7)]
    first = jsonl(tmp_path / "first.jsonl", persons + _org_rows(0, 2600))
    done = import_file(db.engine, first, cat, "t", workers=0)
    assert (done.committed, done.filed) == (True, 2607), done.errors[:3]
    _consistent(db)

    second = _org_rows(0, 1000) + _org_rows(1000, 1100, summary="changed") + _org_rows(2600, 3900)
    report = import_file(db.engine, jsonl(tmp_path / "second.jsonl", second), cat, "t", workers=0)
    assert (report.unchanged, report.amended, report.filed) == (1000, 100, 1300)
    _consistent(db)
    with db.engine.connect() as conn:
        summaries = dict(conn.execute(select(records.c.external_id, records.c.summary)).all())
    assert (summaries["ORG-999"], summaries["ORG-1000"], summaries["ORG-1099"]) == ("s", "changed", "changed")

    before = dump(db)
    bad = _org_rows(3900, 7000)
    bad[-1]["decided_on"] = "2025-02-30"
    refused = import_file(db.engine, jsonl(tmp_path / "bad.jsonl", bad), cat, "t", workers=0)
    assert not refused.committed and len(refused.errors) == 1
    assert dump(db) == before
