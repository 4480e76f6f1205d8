"""``supervision plan`` and ``list`` on both stores: reproducible draws, rates by class (D drawn most), the
second 随机 (inspectors, never one with a conflict), bad inspectors' files, exit codes and the audit entry.

Fails on main, which has no supervision command."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.cli.common import cli_actor
from socialcredit.store import Database
from socialcredit.store.tables import audit_log, supervision_plans
from socialcredit.supervision.inspectors import read_inspectors
from socialcredit.supervision.plan import draw, rank, sample_size

from .helpers import AT, SIZES, firm, inspectors, populate

runner = CliRunner()


def plan(tmp: Path, *args: str, out: str = "plan.csv") -> tuple[int, str, list[dict[str, str]]]:
    path = tmp / out
    result = runner.invoke(app, ["supervision", "plan", "--authority", "samr", *args, "--out", str(path)])
    rows = list(csv.DictReader(path.open(encoding="utf-8"))) if result.exit_code == 0 else []
    return result.exit_code, result.output, rows


@pytest.fixture
def registry(db: Database, catalogue: Catalogue, now: dt.datetime) -> str:
    populate(db, catalogue, now)
    return (now + AT).isoformat()


def test_same_seed_same_plan_and_rates_follow_the_class(db: Database, registry: str, tmp_path: Path) -> None:
    team = str(inspectors(tmp_path))
    code, out, rows = plan(tmp_path, "--seed", "42", "--at", registry, "--inspectors", team, "--year", "2026")
    assert code == 0, out
    assert "seed 42" not in out  # a seed given is not echoed as a new one
    code2, _, again = plan(
        tmp_path, "--seed", "42", "--at", registry, "--inspectors", team, "--year", "2026", out="again.csv"
    )
    assert code2 == 0 and again == rows
    drawn = {c: sum(1 for r in rows if r["class"] == c) for c in SIZES}
    # ceil(rate x firms): A 3 of 100, B 2 of 40, C 3 of 30, D 6 of 20.
    assert drawn == {"A": 3, "B": 2, "C": 3, "D": 6}
    share = [drawn[c] / SIZES[c] for c in "ABCD"]
    assert share == sorted(share) and share[-1] == max(share)  # D drawn most
    assert all(r["firm"].startswith("91") and r["rate"] for r in rows)
    assert all(len(r["inspectors"].split(";")) == 2 for r in rows)
    assert all(not r["inspectors"].startswith("C") for r in rows)  # only samr's inspectors
    # The draw is the SHA-256 ranking of the seed: D's first drawn firm is its lowest hash.
    d_firms = [firm("D", i, "110105" if i % 2 else "310101") for i in range(SIZES["D"])]
    best = sorted(d_firms, key=lambda f: rank("42", "samr", "2026", f))[:6]
    assert [r["firm"] for r in rows if r["class"] == "D"] == best
    other = plan(tmp_path, "--seed", "43", "--at", registry, "--inspectors", team, out="other.csv")[2]
    assert [r["firm"] for r in other] != [r["firm"] for r in rows]
    next_year = plan(
        tmp_path, "--seed", "42", "--at", registry, "--inspectors", team, "--year", "2027", out="y.csv"
    )[2]
    assert [r["firm"] for r in next_year] != [r["firm"] for r in rows]


def test_no_seed_prints_the_one_used_and_it_redraws_the_plan(
    db: Database, registry: str, tmp_path: Path
) -> None:
    team = str(inspectors(tmp_path))
    code, out, rows = plan(tmp_path, "--at", registry, "--inspectors", team)
    assert code == 0, out
    seed = out.split("seed ", 1)[1].split()[0]
    again = plan(tmp_path, "--seed", seed, "--at", registry, "--inspectors", team, out="b.csv")[2]
    assert again == rows


def test_the_plan_is_stored_and_audited_with_seed_counts_and_digest(
    db: Database, registry: str, tmp_path: Path
) -> None:
    team = inspectors(tmp_path)
    code, out, rows = plan(tmp_path, "--seed", "s-1", "--at", registry, "--inspectors", str(team))
    assert code == 0, out
    digest = hashlib.sha256(team.read_bytes()).hexdigest()
    with db.engine.connect() as conn:
        stored = conn.execute(select(supervision_plans)).mappings().one()
        entry = (
            conn.execute(select(audit_log).where(audit_log.c.action == "supervision.plan")).mappings().one()
        )
    assert stored["seed"] == "s-1" and stored["inspectors_digest"] == digest and stored["drawn"] == len(rows)
    assert [r["firm"] for r in json.loads(stored["rows"])] == [r["firm"] for r in rows]
    assert entry["actor"] == cli_actor() and entry["target"] == f"plan:{stored['id']}"
    assert "seed s-1" in entry["outcome"] and "A 3/100 B 2/40 C 3/30 D 6/20" in entry["outcome"]
    assert f"sha256:{digest[:16]}" in entry["outcome"]
    listed = runner.invoke(app, ["supervision", "list", "--authority", "samr", "--json"])
    assert listed.exit_code == 0, listed.output
    (line,) = listed.output.splitlines()
    assert json.loads(line)["seed"] == "s-1" and json.loads(line)["drawn"] == len(rows)
    assert "s-1" in runner.invoke(app, ["supervision", "list"]).output
    assert runner.invoke(app, ["supervision", "list", "--authority", "court"]).output.strip() == "no plans"


def test_region_limits_the_firms(db: Database, registry: str, tmp_path: Path) -> None:
    team = str(inspectors(tmp_path))
    code, out, rows = plan(
        tmp_path, "--seed", "1", "--at", registry, "--inspectors", team, "--region", "3101"
    )
    assert code == 0, out
    assert rows and all(r["firm"][2:6] == "3101" for r in rows)
    assert "class A: 2 of 50 firms drawn" in out and "class D: 3 of 10 firms drawn" in out


def test_an_inspector_is_never_drawn_for_a_firm_in_conflict(
    db: Database, catalogue: Catalogue, registry: str, tmp_path: Path
) -> None:
    d = [firm("D", i, "110105" if i % 2 else "310101") for i in range(SIZES["D"])]
    # I00 and I01 are in conflict with every D firm; three inspectors in all, two per inspection.
    text = "id,name,authority,conflicts\n" + f"I00,甲,samr,{';'.join(d)}\n" + f"I01,乙,samr,{' '.join(d)}\n"
    text += "I02,丙,samr,\nI03,丁,samr,\n"
    code, out, rows = plan(
        tmp_path, "--seed", "7", "--at", registry, "--inspectors", str(inspectors(tmp_path, text))
    )
    assert code == 0, out
    for r in rows:
        if r["class"] == "D":
            assert set(r["inspectors"].split(";")) == {"I02", "I03"}
    used = {i for r in rows if r["class"] != "D" for i in r["inspectors"].split(";")}
    assert {"I00", "I01"} & used  # they still inspect other firms
    # Too few inspectors without a conflict: refused, nothing stored.
    text = "id,name,authority,conflicts\n" + f"I00,甲,samr,{d[0]}\nI02,丙,samr,\n"
    many = [f"X{k},人{k},samr,{';'.join(d)}" for k in range(3)]
    code, out, _ = plan(
        tmp_path,
        "--seed",
        "7",
        "--at",
        registry,
        "--inspectors",
        str(inspectors(tmp_path, "\n".join([*text.splitlines(), *many]) + "\n")),
    )
    assert code == 2 and "without a conflict" in out, out
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(supervision_plans)).scalar_one() == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("id,name,authority\nI1,甲,samr\n", "missing column(s) conflicts"),
        ("id,name,authority,conflicts,phone\nI1,甲,samr,,1\n", "unknown column(s) 'phone'"),
        (
            "id,name,authority,conflicts\nI1,甲,samr,\nI1,乙,samr,\n",
            "inspectors.csv:3: id: 'I1' is also on line 2",
        ),
        ("id,name,authority,conflicts\nC1,甲,court,\n", "no inspector of 'samr' (the file has court)"),
        ("id,name,authority,conflicts\nI1,,samr,\n", "inspectors.csv:2: name: required"),
        ("id,name,authority,conflicts\nI1,甲,samr,91110105MA01H8K34B\n", "inspectors.csv:2: conflicts:"),
        ("", "the file is empty"),
        ("id,name,authority,conflicts\nI1,甲,samr\n", "3 cells, the header has 4"),
    ],
)
def test_a_bad_inspectors_file_is_refused(
    db: Database, registry: str, tmp_path: Path, text: str, reason: str
) -> None:
    code, out, _ = plan(tmp_path, "--seed", "1", "--inspectors", str(inspectors(tmp_path, text)))
    assert code == 2, out
    assert out.startswith("error: --inspectors: ") and reason in out, out
    assert not (tmp_path / "plan.csv").exists()
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(supervision_plans)).scalar_one() == 0


def test_exit_codes(db: Database, registry: str, tmp_path: Path) -> None:
    team = str(inspectors(tmp_path))
    assert plan(tmp_path, "--inspectors", str(tmp_path / "none.csv"))[0] == 3
    r = runner.invoke(
        app, ["supervision", "plan", "--authority", "court", "--inspectors", team, "--out", "x.csv"]
    )
    assert r.exit_code == 3 and "no supervision policy" in r.output
    for bad in (
        ["--region", "1x"],
        ["--region", "123"],
        ["--year", "1900"],
        ["--seed", ""],
        ["--at", "soon"],
    ):
        code, out, _ = plan(tmp_path, "--inspectors", team, *bad)
        assert code == 2 and out.startswith("error: "), (bad, out)
    code, out, _ = plan(tmp_path, "--inspectors", team, out="no/such/dir.csv")
    assert code == 2 and "no such directory" in out
    assert runner.invoke(app, ["supervision", "list", "--authority", "nobody"]).exit_code == 3


def test_draw_counts_in_decimal() -> None:
    assert sample_size(0.03, 100) == 3 and sample_size(0.3, 20) == 6 and sample_size(0.05, 1) == 1
    assert sample_size(0.0, 50) == 0 and sample_size(1.0, 7) == 7 and sample_size(0.3, 0) == 0


def test_a_firm_added_moves_no_other_firm(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path
) -> None:
    populate(db, catalogue, now, {"D": 10})
    team, digest = read_inspectors(inspectors(tmp_path), "samr")
    at = now + AT
    with db.engine.connect() as conn:
        before = draw(conn, catalogue, "samr", team, digest, "s", 2026, at)
    populate(db, catalogue, now, {"C": 1})
    with db.engine.connect() as conn:
        after = draw(conn, catalogue, "samr", team, digest, "s", 2026, at)
    assert [r for r in after.rows if r.risk_class == "D"] == [r for r in before.rows if r.risk_class == "D"]


def test_spreadsheet_formulas_in_the_inspectors_file_are_made_inert(
    db: Database, registry: str, tmp_path: Path
) -> None:
    text = 'id,name,authority,conflicts\n=1+1,=HYPERLINK("http://x"),samr,\n@A1,+甲,samr,\n'
    code, out, rows = plan(
        tmp_path, "--seed", "1", "--at", registry, "--inspectors", str(inspectors(tmp_path, text))
    )
    assert code == 0, out
    cells = {c for r in rows for c in (r["inspectors"] + ";" + r["inspector_names"]).split(";")}
    assert cells == {"'=1+1", "'@A1", '\'=HYPERLINK("http://x")', "'+甲"}


def test_a_directory_or_a_huge_field_is_bad_input(db: Database, registry: str, tmp_path: Path) -> None:
    assert plan(tmp_path, "--inspectors", str(tmp_path))[0] == 2
    huge = "id,name,authority,conflicts\nI1,甲,samr," + "9" * 200_000 + "\n"
    code, out, _ = plan(tmp_path, "--inspectors", str(inspectors(tmp_path, huge)))
    assert code == 2 and out.startswith("error: --inspectors: "), out


def test_show_re_exports_the_plan_byte_for_byte_and_is_audited(
    db: Database, registry: str, tmp_path: Path
) -> None:
    team = str(inspectors(tmp_path))
    assert plan(tmp_path, "--seed", "9", "--at", registry, "--inspectors", team)[0] == 0
    again = tmp_path / "again.csv"
    r = runner.invoke(app, ["supervision", "show", "1", "--out", str(again)])
    assert r.exit_code == 0, r.output
    assert again.read_bytes() == (tmp_path / "plan.csv").read_bytes()
    assert "seed 9" in r.output and "class D: 6 of 20 firms drawn" in r.output
    shown = json.loads(runner.invoke(app, ["supervision", "show", "1", "--json"]).output)
    assert shown["seed"] == "9" and len(shown["rows"]) == shown["drawn"] == 14
    missing = runner.invoke(app, ["supervision", "show", "2"])
    assert missing.exit_code == 3 and "no plan 2" in missing.output
    with db.engine.connect() as conn:
        q = select(audit_log.c.target, audit_log.c.outcome).where(audit_log.c.action == "supervision.show")
        assert [tuple(e) for e in conn.execute(q.order_by(audit_log.c.seq))] == [
            ("plan:1", "ok: 14 rows"),
            ("plan:1", "ok: 14 rows"),
            ("plan:2", "not found"),
        ]
    assert runner.invoke(app, ["supervision", "show", "0"]).exit_code == 2
