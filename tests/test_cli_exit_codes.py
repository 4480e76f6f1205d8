"""Exit codes, the same across commands (decision 0700): 0 ok, 1 a negative answer, 2 bad input, 3 not found.

Pins the defect: "not found" exited 1, the code ``check`` uses for "denied", so a script could not tell "no such
record" from a negative answer; ``check`` keeps 0 allowed, 1 denied, 2 bad input.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factories import person_id
from process_helpers import file
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.cli.common import EXIT_NOT_FOUND
from socialcredit.store import Database

runner = CliRunner()

NOT_FOUND = [
    ("subject", "show", person_id(77)),
    ("objection", "file", "999", "--grounds", "x"),
    ("objection", "decide", "999", "--outcome", "rejected", "--reason", "x"),
    ("objection", "reconsider", "999", "--grounds", "x"),
    ("repair", "request", "999", "--evidence", "e", "--commitment", "c"),
    ("repair", "decide", "999", "--approve", "--reason", "x"),
    ("fulfil", "999", "--reason", "x"),
    ("keys", "revoke", "f" * 17),
    ("import", "missing.jsonl", "--no-progress"),
    ("watchlist", "show", "wl_00"),
    ("watchlist", "upload", "wl_00", "missing.txt"),
    ("monitor", "run", "wl_00"),
    ("subscription", "deliveries", "sub_00"),
    ("subscription", "redeliver", "sub_00"),
    ("subscription", "create", "http://hooks.invalid/x", "--watchlist", "wl_00"),
    ("supervision", "plan", "--authority", "court", "--inspectors", "i.csv", "--out", "o.csv"),
    ("supervision", "plan", "--authority", "samr", "--inspectors", "missing.csv", "--out", "o.csv"),
    ("supervision", "list", "--authority", "nobody"),
    ("supervision", "show", "999"),
]


@pytest.mark.parametrize("args", NOT_FOUND, ids=lambda a: " ".join(a[:2]))
def test_not_found_exits_3_with_a_reason(db: Database, args: tuple[str, ...]) -> None:
    result = runner.invoke(app, list(args))
    assert EXIT_NOT_FOUND == 3
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


def test_check_keeps_0_1_2(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    file(db, catalogue, now, subject_id=person_id(3))
    assert runner.invoke(app, ["check", person_id(3), "transport.air.ticket"]).exit_code == 1
    # An unknown subject is an answer (allowed, "not in the registry"), not "not found".
    assert runner.invoke(app, ["check", person_id(4), "transport.air.ticket"]).exit_code == 0
    assert runner.invoke(app, ["check", "12345", "transport.air.ticket"]).exit_code == 2
    assert runner.invoke(app, ["check", person_id(4), "nope"]).exit_code == 2


def test_bad_input_is_2_not_3(db: Database, tmp_path: Path) -> None:
    assert runner.invoke(app, ["subject", "show", "12345"]).exit_code == 2
    assert runner.invoke(app, ["keys", "revoke", "not-hex"]).exit_code == 2
    assert runner.invoke(app, ["import", str(tmp_path), "--no-progress"]).exit_code == 2
