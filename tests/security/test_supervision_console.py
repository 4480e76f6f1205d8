"""Inspection plans in the console: only registrars of the plan's authority see them.

Attacks: another authority's registrar reading a plan by its number (404, the same as a plan that does not
exist: no oracle), an auditor or admin opening the pages (403), no session (the sign-in form), a plan number
that is no number or overflows (404, never a 5xx). Every view of a plan's rows is audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from console.conftest import PASSWORD, Console, console  # noqa: F401  (the fixture)
from socialcredit.catalogue import Catalogue
from socialcredit.console.auth import create_user
from socialcredit.store import Database
from socialcredit.store.tables import supervision_plans
from socialcredit.supervision.inspectors import read_inspectors
from socialcredit.supervision.plan import draw
from socialcredit.supervision.store import save_plan
from supervision.helpers import AT, inspectors, populate


@pytest.fixture
def plan_id(console: Console, catalogue: Catalogue, now: dt.datetime, tmp_path: Path) -> Iterator[int]:  # noqa: F811
    db: Database = console.db
    populate(db, catalogue, now, {"A": 10, "D": 10})
    team, digest = read_inspectors(inspectors(tmp_path), "samr")
    with db.engine.connect() as conn:
        plan = draw(conn, catalogue, "samr", team, digest, "42", 2026, now + AT)
    with db.engine.begin() as conn:
        pid = save_plan(conn, plan, "cli:test", "admin", now)
        create_user(conn, "sam", "registrar", PASSWORD, catalogue, now, authority="samr")
        create_user(conn, "root", "admin", PASSWORD, catalogue, now)
    yield pid


def test_the_authority_s_registrar_sees_its_plans_and_rows(console: Console, plan_id: int) -> None:  # noqa: F811
    assert console.sign_in("sam") == 303
    listing = console.client.get("/console/supervision")
    assert listing.status_code == 200 and f'data-plan="{plan_id}"' in listing.text
    assert 'data-plans="1"' in listing.text and "国办发〔2015〕58号" in listing.text
    page = console.client.get(f"/console/supervision/{plan_id}")
    assert page.status_code == 200
    with console.db.engine.connect() as conn:
        drawn = conn.execute(select(supervision_plans.c.drawn)).scalar_one()
    assert page.text.count("data-firm=") == drawn == 4  # A ceil(0.3) 1, D ceil(3.0) 3
    assert "检查员" in page.text and 'data-class="D"' in page.text
    assert console.audit("console.supervision")[-1] == ("user:sam", f"plan:{plan_id}", f"ok: {drawn} rows")


def test_another_authority_sees_none_and_cannot_tell_it_exists(console: Console, plan_id: int) -> None:  # noqa: F811
    assert console.sign_in("alice") == 303  # a court registrar
    listing = console.client.get("/console/supervision")
    assert (
        listing.status_code == 200 and 'data-plans="0"' in listing.text and "data-plan=" not in listing.text
    )
    theirs = console.client.get(f"/console/supervision/{plan_id}")
    none = console.client.get(f"/console/supervision/{plan_id + 1000}")
    assert theirs.status_code == none.status_code == 404
    assert "data-firm" not in theirs.text

    def same(text: str, pid: int) -> str:  # the path is echoed (the message, the language switch's links)
        return text.replace(f"&#39;{pid}&#39;", "N").replace(
            f"/console/supervision/{pid}", "/console/supervision/N"
        )

    assert same(theirs.text, plan_id) == same(none.text, plan_id + 1000)
    assert console.audit("console.supervision")[-2][2] == "refused: 404"


@pytest.mark.parametrize("user", ["audrey", "root"])
def test_other_roles_are_refused(console: Console, plan_id: int, user: str) -> None:  # noqa: F811
    assert console.sign_in(user) == 303
    assert console.client.get("/console/supervision").status_code == 403
    r = console.client.get(f"/console/supervision/{plan_id}")
    assert r.status_code == 403 and "data-firm" not in r.text


def test_no_session_gets_the_sign_in_form(console: Console, plan_id: int) -> None:  # noqa: F811
    r = console.client.get(f"/console/supervision/{plan_id}")
    assert r.status_code == 401 and "data-firm" not in r.text


@pytest.mark.parametrize("bad", ["abc", "-1", "9" * 40, "1e3", "%00", "１"])
def test_odd_plan_numbers_are_404_not_5xx(console: Console, plan_id: int, bad: str) -> None:  # noqa: F811
    assert console.sign_in("sam") == 303
    assert console.client.get(f"/console/supervision/{bad}").status_code == 404
