"""A person asked about under a punitive model: refused alike whether listed, unlisted or unknown.

Pins two defects a grading feature could have: a punitive score of a person (national policy: rewards only),
and the refusal as an oracle (a different answer for a listed person would tell who is listed)."""

from __future__ import annotations

import datetime as dt

from typer.testing import CliRunner

from factories import person_id
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.store import Database
from test_engine_support import file


def test_refusal_is_the_same_for_listed_and_unknown_persons(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    file(db.engine, catalogue, now, subject_id=person_id(5), subject_name="王芳")
    runner = CliRunner()
    answers = []
    for sid in (person_id(5), person_id(6)):  # listed; never heard of
        for model in ("public_credit", "samr_risk"):
            out = runner.invoke(app, ["grade", sid, "--model", model, "--json"])
            answers.append((out.exit_code, out.output.replace(sid, "ID")))
        out = runner.invoke(app, ["grade", sid])
        answers.append((out.exit_code, out.output.replace(sid, "ID")))
    assert {code for code, _ in answers} == {2}
    assert answers[:3] == answers[3:]
    # Nothing printed but the one-line reason.
    assert all(text.startswith("error: ") and text.count("\n") == 1 for _, text in answers), answers
