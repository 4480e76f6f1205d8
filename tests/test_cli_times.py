"""Instants a person reads are China Standard Time with the offset, in one format; JSON keeps ISO 8601 (decision
0701).

Pins the defects: ``check --at 2020-01-01`` printed "as of 2019-12-31T16:00:00+00:00" (the day before, to a
reader in China), ``--known-at`` was never echoed, ``keys list`` cut instants to a zoneless
"2026-11-20T04:00:00", and ``subject show`` printed the UTC date of a record's end (a day early).
"""

from __future__ import annotations

import datetime as dt
import json
import re

from typer.testing import CliRunner

from factories import person_id
from process_helpers import file
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.store import Database
from socialcredit.timefmt import for_json, for_people, parse_iso_for_people

runner = CliRunner()
PEOPLE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00")


def test_one_format_for_people() -> None:
    utc = dt.datetime(2019, 12, 31, 16, 0, tzinfo=dt.UTC)
    assert for_people(utc) == "2020-01-01 00:00:00 +08:00"
    assert for_people(utc.replace(tzinfo=None)) == "2020-01-01 00:00:00 +08:00"  # the store's naive UTC
    assert for_people(None, empty="never") == "never"
    assert for_json(utc) == "2019-12-31T16:00:00+00:00"
    assert for_json(dt.datetime(2020, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))) == (
        "2019-12-31T16:00:00+00:00"
    )
    assert parse_iso_for_people("2019-12-31T16:00:00+00:00") == "2020-01-01 00:00:00 +08:00"
    assert parse_iso_for_people("not a time") == "not a time" and parse_iso_for_people(None) == ""


def test_check_shows_as_of_and_known_at_in_china_time(db: Database) -> None:
    text = runner.invoke(app, ["check", person_id(3), "transport.air.ticket", "--at", "2020-01-01"])
    assert text.exit_code == 0, text.output
    assert "as of 2020-01-01 00:00:00 +08:00" in text.stdout and "2019-12-31" not in text.stdout
    known = runner.invoke(
        app,
        [
            "check",
            person_id(3),
            "transport.air.ticket",
            "--at",
            "2020-01-01",
            "--known-at",
            "2021-06-01T12:00",
        ],
    )
    assert "as known at 2021-06-01 12:00:00 +08:00" in known.stdout
    # Without --known-at, the instant the registry was read is echoed.
    assert re.search(r"as known at " + PEOPLE.pattern, text.stdout)


def test_check_json_keeps_iso_8601_and_echoes_known_at(db: Database) -> None:
    args = ["check", person_id(3), "transport.air.ticket", "--at", "2020-01-01", "--json"]
    body = json.loads(runner.invoke(app, [*args, "--known-at", "2021-06-01"]).stdout)
    assert body["as_of"] == "2019-12-31T16:00:00+00:00"
    assert body["known_at"] == "2021-05-31T16:00:00+00:00"
    now = json.loads(runner.invoke(app, args).stdout)["known_at"]
    assert dt.datetime.fromisoformat(now).utcoffset() == dt.timedelta(0)


def test_check_reasons_and_subject_show_end_in_china_time(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    file(db, catalogue, now, subject_id=person_id(3), effective_until="2030-01-01")
    denied = runner.invoke(app, ["check", person_id(3), "transport.air.ticket"], env={"COLUMNS": "80"})
    assert denied.exit_code == 1
    # In force through 1 January (China days): it ends at the next China midnight, shown as such.
    end = "2030-01-02 00:00:00 +08:00"
    assert end in denied.stdout and "16:00" not in denied.stdout
    shown = runner.invoke(app, ["subject", "show", person_id(3)])
    assert f"until {end}" in shown.stdout
    body = json.loads(runner.invoke(app, ["subject", "show", person_id(3), "--json"]).stdout)
    assert dt.datetime.fromisoformat(body["subject"]["created_at"]).utcoffset() == dt.timedelta(0)


def test_keys_list_times(db: Database) -> None:
    runner.invoke(app, ["keys", "create", "--role", "auditor", "--expires", "90d"])
    listed = runner.invoke(app, ["keys", "list"]).stdout
    assert len(PEOPLE.findall(listed)) == 2, listed  # created and expires


def test_the_portal_uses_the_same_format() -> None:
    from socialcredit.web.labels import local_minute

    assert local_minute("2019-12-31T16:00:00+00:00") == "2020-01-01 00:00:00 +08:00"


def test_due_process_json_instants_are_iso_8601(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    # fulfil printed "ended_at": "2026-12-02 13:13:31+00:00" (str of a datetime, not ISO 8601).
    rid = file(db, catalogue, now)
    body = json.loads(runner.invoke(app, ["fulfil", str(rid), "--reason", "paid"]).stdout)
    assert "T" in body["ended_at"] and dt.datetime.fromisoformat(
        body["ended_at"]
    ).utcoffset() == dt.timedelta(0)
