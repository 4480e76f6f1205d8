"""``socialcredit check``: exit 0 allowed, 1 denied, 2 bad input; --json prints one Decision."""

from __future__ import annotations

import datetime as dt
import json

from typer.testing import CliRunner

from factories import org_id, person_id
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.store import Database
from test_engine_support import file

runner = CliRunner()


def test_check_exit_codes_and_output(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    st = file(
        db.engine,
        catalogue,
        now,
        subject_id=org_id(1),
        subject_name="某公司",
        legal_representative_id=person_id(3),
        legal_representative_name="张三",
    )
    denied = runner.invoke(app, ["check", person_id(3), "transport.air.ticket"])
    assert denied.exit_code == 1, denied.output
    assert (
        "DENIED" in denied.output and "legal_representative" in denied.output and org_id(1) in denied.output
    )
    departments = {
        m.department for _, m in catalogue.measures_for(st.category) if "transport.air.ticket" in m.actions
    }
    assert any(dep in denied.output for dep in departments)

    out = runner.invoke(app, ["check", person_id(3), "transport.air.ticket", "--json"])
    assert out.exit_code == 1
    body = json.loads(out.stdout)
    assert body["allowed"] is False and body["known"] is True and body["effects"] == ["deny"]
    assert body["reasons"][0]["record_id"] == st.id and body["reasons"][0]["via_subject"] == org_id(1)

    allowed = runner.invoke(app, ["check", person_id(99), "transport.air.ticket", "--json"])
    assert allowed.exit_code == 0
    assert json.loads(allowed.stdout)["known"] is False

    # --at after the record ends, and --known-at before it was filed: allowed.
    assert st.valid_until is not None
    later = (st.valid_until + dt.timedelta(days=1)).date().isoformat()
    assert runner.invoke(app, ["check", person_id(3), "transport.air.ticket", "--at", later]).exit_code == 0
    before = (now - dt.timedelta(days=1)).isoformat()
    assert (
        runner.invoke(app, ["check", person_id(3), "transport.air.ticket", "--known-at", before]).exit_code
        == 0
    )


def test_check_bad_input_exits_2(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    file(db.engine, catalogue, now)
    cases = {
        "action": ["check", person_id(11), "transport.teleport"],
        "subject": ["check", "110105198001010113", "transport.air.ticket"],
        "--at": ["check", person_id(11), "transport.air.ticket", "--at", "2026-13-01"],
        "--known-at": ["check", person_id(11), "transport.air.ticket", "--known-at", "yesterday"],
    }
    for name, argv in cases.items():
        result = runner.invoke(app, argv)
        assert result.exit_code == 2, (name, result.output)
        assert result.stderr.startswith("error: ") and name in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
