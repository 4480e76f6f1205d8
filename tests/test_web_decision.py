"""The check page shows the whole answer the API gives (issue 18, "fix first"), on both databases.

Pinned defects: "核查时点 As of" was shown without a time (the template read a field never set); a red-listed
firm whose benefits are withheld (a black-list record in force) showed a "便利 Expedited" badge as if granted,
and the registrar's Decision lost ``withheld``, its notes, the record, the category and ``via``; a check with a
bad subject and a bad action named only the action.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from factories import org_id, person_id, row
from socialcredit.api import create_app
from socialcredit.catalogue import Catalogue
from socialcredit.keys import create_key
from socialcredit.registry import check_row, file_batch
from socialcredit.settings import Settings
from socialcredit.store import Database
from test_api_helpers import problem
from test_web import _text

FIRM = org_id(41)  # grade A taxpayer (red list) and a judgment defaulter (black list) at once
LISTED = person_id(11)


@pytest.fixture
def client(db: Database, catalogue: Catalogue) -> Iterator[tuple[TestClient, dict[str, str]]]:
    now = dt.datetime.now(dt.UTC)
    recent = (now - dt.timedelta(days=30)).date().isoformat()
    rows = [
        row(subject_id=LISTED, subject_name="王芳"),
        row(
            external_id="a-1",
            authority="sta",
            category="tax.a_grade",
            subject_id=FIRM,
            subject_name="北京守信科技有限公司",
            decision_no="京税A〔2025〕1号",
            decided_on=recent,  # a grade lasts a year: decided a month ago, in force
        ),
        row(external_id="d-1", subject_id=FIRM, subject_name="北京守信科技有限公司", decided_on="2025-06-01"),
    ]
    with db.engine.begin() as conn:
        file_batch(conn, [check_row(r, catalogue, now) for r in rows], catalogue, "test", now)
        tokens = {
            "registrar": create_key(conn, "registrar", catalogue, now, authority="court")[1],
            # The tax authority filed the red-list record: it sees that record whole (decision 0310).
            "sta": create_key(conn, "registrar", catalogue, now, authority="sta")[1],
            "checkpoint": create_key(conn, "checkpoint", catalogue, now, actions=["transport", "tax"])[1],
        }
    settings = Settings(database_url=str(db.engine.url), public_rate_limit=1000)
    with TestClient(create_app(db, catalogue, settings), raise_server_exceptions=True) as c:
        yield c, tokens


def _check(c: TestClient, token: str, subject: str, action: str) -> str:
    form = {"token": token, "purpose": "test purpose", "subject": subject, "action": action}
    resp = c.post("/portal/check", data=form)
    assert resp.status_code == 200, resp.text
    return resp.text


def test_as_of_shows_the_instant_in_china_time(client: tuple[TestClient, dict[str, str]]) -> None:
    c, tokens = client
    text = _text(_check(c, tokens["checkpoint"], LISTED, "transport.air.ticket").split('id="decision"', 1)[1])
    # "核查时点 As of: 2026-12-02 21:05:20 +08:00", not an empty "(UTC+8)"
    after = text.split("As of", 1)[1][:40]
    assert len(after.split("+08:00")[0].strip()) >= len("2026-12-02 21:05:20"), after
    assert "+08:00" in after


def test_withheld_benefit_is_not_shown_as_granted(client: tuple[TestClient, dict[str, str]]) -> None:
    c, tokens = client
    api = c.post(
        "/v1/checks",
        json={"subject": FIRM, "action": "tax.invoice"},
        headers={"Authorization": f"Bearer {tokens['sta']}", "X-Purpose": "test purpose"},
    ).json()
    assert api["effects"] == [] and any(r.get("withheld") for r in api["reasons"]) and api["notes"]
    html = _check(c, tokens["sta"], FIRM, "tax.invoice")
    decision = html.split('id="decision"', 1)[1]
    assert 'class="badge effect-expedite"' not in decision  # no "便利 Expedited" badge as if granted
    assert "effect-withheld" in decision and "Withheld" in decision
    text = _text(decision)
    # The registrar's full Decision: the notes (both languages), the record, its category and via.
    assert "red-list benefits withheld" in text and "不给予守信激励" in text
    withheld = next(r for r in api["reasons"] if r.get("withheld"))
    assert str(withheld["record_id"]) in text and withheld["category"] in text
    assert "tax.a_grade" in text and "the subject" in text


def test_checkpoint_sees_withheld_too_without_the_file(client: tuple[TestClient, dict[str, str]]) -> None:
    c, tokens = client
    decision = _check(c, tokens["checkpoint"], FIRM, "tax.invoice").split('id="decision"', 1)[1]
    assert 'class="badge effect-expedite"' not in decision
    assert "tax.a_grade" not in decision  # a checkpoint never learns the record behind a reason


def test_bad_subject_and_bad_action_are_both_named(client: tuple[TestClient, dict[str, str]]) -> None:
    c, tokens = client
    body = problem(
        c.post(
            "/v1/checks",
            json={"subject": "not-an-id", "action": "no.such.action"},
            headers={"Authorization": f"Bearer {tokens['registrar']}", "X-Purpose": "test purpose"},
        ),
        422,
    )
    assert {tuple(e["loc"]) for e in body["errors"]} == {("body", "subject"), ("body", "action")}
    form = {"token": tokens["registrar"], "purpose": "test purpose", "subject": "not-an-id"}
    resp = c.post("/portal/check", data={**form, "action": "no.such.action"})
    assert resp.status_code == 422
    alert = resp.text.split('role="alert"', 1)[1].split("</div>", 1)[0]
    assert "<code>subject</code>" in alert and "<code>action</code>" in alert and "输入有误" in alert
