"""``socialcredit screen`` over files: each format round-trips in order with its columns, GB18030 is read, bad
input is refused (exit 2, naming the file) or kept as an invalid row, and spreadsheet formulas are inert in both
directions (CSV injection). All fail on main (no command)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from factories import org_id, person_id
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.store import Database
from test_engine_support import file

runner = CliRunner()
ROWS: list[dict[str, Any]] = [
    {"ref": "a", "subject_id": person_id(3), "amount": "12"},
    {"ref": "b", "subject_id": person_id(98), "amount": "7"},
    {"ref": "c", "subject_id": "not-an-id", "amount": ""},
    {"ref": "d", "subject_id": org_id(1), "amount": "3"},
]


def _listed(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    file(
        db.engine,
        catalogue,
        now,
        subject_id=org_id(1),
        subject_name="某某科技有限公司",
        legal_representative_id=person_id(3),
        legal_representative_name="张三",
    )


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    cols = list(rows[0])
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([cols, *([r[c] for c in cols] for r in rows)])
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif path.suffix == ".parquet":
        pq.write_table(pa.table({c: [r[c] for r in rows] for c in cols}), path)
    else:
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(cols)
        for r in rows:
            ws.append([r[c] for c in cols])
        wb.save(path)


def _read(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()  # type: ignore[no-any-return]
    ws = openpyxl.load_workbook(path).worksheets[0]
    values = list(ws.iter_rows(values_only=True))
    return [dict(zip(values[0], r, strict=True)) for r in values[1:]]


def _screen(src: Path, out: Path, *args: str) -> Any:
    return runner.invoke(app, ["screen", str(src), "--out", str(out), "--quiet", *args])


@pytest.mark.parametrize("ext", [".csv", ".jsonl", ".parquet", ".xlsx"])
def test_each_format_round_trips_in_order_with_its_columns(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path, ext: str
) -> None:
    _listed(db, catalogue, now)
    src, out = tmp_path / f"in{ext}", tmp_path / f"out{ext}"
    _write(src, ROWS)
    res = _screen(src, out, "--action", "transport.air.ticket")
    assert res.exit_code == 0, res.output
    rows = _read(out)
    assert [r["ref"] for r in rows] == ["a", "b", "c", "d"]
    assert [r["status"] for r in rows] == ["hit", "clear", "invalid", "hit"]
    assert [r["amount"] or None for r in rows] == ["12", "7", None, "3"]  # carried through
    matches = rows[0]["matches"]
    first = (matches if ext == ".jsonl" else json.loads(matches))[0]  # nested in JSON Lines, JSON text else
    assert first["subject_id"] == person_id(3) and first["decision"]["allowed"] is False
    assert "length" in rows[2]["reason"]
    assert float(rows[0]["score"]) == 1.0


def test_gb18030_input_is_read_and_written_back_so(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path
) -> None:
    # Defect pinned: Excel on a Chinese system saves CSV as GB18030; reading it as UTF-8 fails or garbles names.
    _listed(db, catalogue, now)
    src, out = tmp_path / "gb.csv", tmp_path / "out.csv"
    src.write_bytes("name,备注\n某某科技有限公司,客户甲\n".encode("gb18030"))
    res = _screen(src, out)
    assert res.exit_code == 0, res.output
    with out.open(encoding="gb18030", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["备注"] == "客户甲" and row["status"] == "hit"
    assert json.loads(row["matches"])[0]["name"] == "某某科技有限公司"


def test_utf16_and_forced_encodings_round_trip(db: Database, tmp_path: Path) -> None:
    src, out = tmp_path / "u16.csv", tmp_path / "out.csv"
    src.write_text(
        "subject_id,备注\n" + "".join(f"{person_id(i)},甲{i}\n" for i in range(5)), encoding="utf-16"
    )
    res = runner.invoke(app, ["screen", str(src), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    raw = out.read_bytes()
    assert raw.count(b"\xff\xfe") == 1  # one byte-order mark, at the top
    with out.open(encoding="utf-16", newline="") as f:
        assert [r["备注"] for r in csv.DictReader(f)] == [f"甲{i}" for i in range(5)]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("subject_id,note\n1,caf\xe9\n".encode("latin-1"))
    res = _screen(latin, out, "--encoding", "latin-1")
    assert res.exit_code == 0, res.output
    assert "café" in out.read_bytes().decode("latin-1")
    assert _screen(latin, out, "--encoding", "no-such-codec").exit_code == 2


def test_undecodable_unknown_format_and_missing_header_are_refused(db: Database, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"subject_id,name\n1,\xff\xff\xfe\x80\n")
    out = tmp_path / "out.csv"
    res = _screen(bad, out)
    assert (
        res.exit_code == 2 and "bad.csv" in res.output and "GB18030" in res.output and "UTF-8" in res.output
    )

    other = tmp_path / "list.docx"
    other.write_bytes(b"PK\x03\x04")
    res = _screen(other, tmp_path / "out.docx")
    assert res.exit_code == 2 and "list.docx" in res.output and "unknown format" in res.output

    headless = tmp_path / "headless.csv"
    headless.write_text(f"{person_id(3)},张三\n", encoding="utf-8")
    res = _screen(headless, out)
    assert res.exit_code == 2 and "headless.csv" in res.output and "missing header" in res.output

    taken = tmp_path / "taken.csv"
    taken.write_text("subject_id,status\nx,y\n", encoding="utf-8")
    res = _screen(taken, out)
    assert res.exit_code == 2 and "'status'" in res.output
    taken_jsonl = tmp_path / "taken.jsonl"
    taken_jsonl.write_text('{"subject_id": "x"}\n{"subject_id": "y", "score": 3}\n', encoding="utf-8")
    res = _screen(taken_jsonl, tmp_path / "out.jsonl")
    assert res.exit_code == 2 and "taken.jsonl:2" in res.output and "'score'" in res.output
    assert not (tmp_path / "out.jsonl").exists()

    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"not a zip")
    res = _screen(empty, tmp_path / "out.xlsx")
    assert res.exit_code == 2 and "empty.xlsx" in res.output
    res = _screen(tmp_path / "nowhere.csv", out)
    assert res.exit_code == 2 and "nowhere.csv" in res.output
    assert not out.exists()  # nothing half-written


def test_format_option_reads_any_extension(db: Database, tmp_path: Path) -> None:
    src, out = tmp_path / "export.txt", tmp_path / "result.txt"
    src.write_text(f"subject_id\n{person_id(5)}\n", encoding="utf-8")
    assert _screen(src, out).exit_code == 2  # unknown extension without --format
    res = _screen(src, out, "--format", "csv")
    assert res.exit_code == 0, res.output
    assert _read_csv_text(out)[0]["status"] == "clear"
    res = _screen(src, tmp_path / "result.jsonl", "--format", "csv")
    assert res.exit_code == 2 and "format" in res.output  # the output is the input's format


def _read_csv_text(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_empty_and_unreadable_rows_are_invalid_never_dropped(db: Database, tmp_path: Path) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(
        "\n".join(
            [json.dumps({"subject_id": person_id(5)}), "", "{not json", "[1, 2]", "{}", json.dumps({"x": 1})]
        )
        + "\n",
        encoding="utf-8",
    )
    res = _screen(src, out)
    assert res.exit_code == 0, res.output
    rows = _read(out)
    assert [r["status"] for r in rows] == ["clear", "invalid", "invalid", "invalid", "invalid", "invalid"]
    assert [r.get("reason", "")[:12] for r in rows[1:]] == [
        "empty row",
        "line 3: not ",
        "line 4: not ",
        "empty row",
        "no subject_i",
    ]
    assert rows[5]["x"] == 1

    csv_src, csv_out = tmp_path / "in.csv", tmp_path / "out.csv"
    csv_src.write_text(f"subject_id,name\n{person_id(5)},\n\n,\n{person_id(6)},x,extra\n", encoding="utf-8")
    assert _screen(csv_src, csv_out).exit_code == 0
    got = _read(csv_out)
    assert [r["status"] for r in got] == ["clear", "invalid", "invalid", "invalid"]
    assert got[1]["reason"] == got[2]["reason"] == "empty row" and "3 cells" in got[3]["reason"]


def test_formulas_are_never_evaluated_and_output_is_escaped(db: Database, tmp_path: Path) -> None:
    # Attack pinned: a counterparty file with =HYPERLINK/=cmd cells; the output opened in a spreadsheet must
    # not run them (CSV injection), and the formula must not be evaluated on the way in either.
    src, out = tmp_path / "in.xlsx", tmp_path / "out.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["subject_id", "note", "n"])
    ws.append(['=CONCAT("1101","05")', '=HYPERLINK("http://evil/","x")', 5])
    ws.append([person_id(5), "+SUM(1,1)", -3])
    wb.save(src)
    res = _screen(src, out)
    assert res.exit_code == 0, res.output
    sheet = openpyxl.load_workbook(out).worksheets[0]
    cells = list(sheet.iter_rows(min_row=2))
    assert all(c.data_type != "f" for row in cells for c in row)  # no formula cell in the output
    first = {h.value: c.value for h, c in zip(sheet[1], cells[0], strict=True)}
    assert first["subject_id"] == '\'=CONCAT("1101","05")' and first["status"] == "invalid"
    assert first["note"] == '\'=HYPERLINK("http://evil/","x")' and first["n"] == 5
    second = {h.value: c.value for h, c in zip(sheet[1], cells[1], strict=True)}
    assert second["note"] == "'+SUM(1,1)" and second["n"] == -3 and second["status"] == "clear"

    csv_src, csv_out = tmp_path / "in.csv", tmp_path / "out.csv"
    csv_src.write_text(
        "subject_id,note\n=1+1,@SUM(A1)\n" + f"{person_id(5)},-2\n" + f"{person_id(6)},\tcmd\n",
        encoding="utf-8",
    )
    assert _screen(csv_src, csv_out).exit_code == 0
    body = csv_out.read_text(encoding="utf-8").splitlines()
    rows = list(csv.reader(body))
    assert rows[1][0] == "'=1+1" and rows[1][1] == "'@SUM(A1)" and rows[1][2] == "invalid"
    assert rows[1][5].startswith("subject_id: ")  # the reason quotes the value with repr: no leading =
    assert rows[2][1] == "'-2" and rows[3][1] == "'\tcmd"
    assert not any(cell[:1] in "=+-@" for row in rows for cell in row if cell)
