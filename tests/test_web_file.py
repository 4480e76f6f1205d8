"""A subject's own file on the portal (issue 18, "fix first"), on both databases.

Pinned defects: "My file" showed an objection deadline ("within 15 days ... until about <filing date + 15>")
as if objections closed then, although they are accepted as long as the record is in force (decision 0400); an
ended record showed its end as a raw instant ("Ended 2026-12-02T08:05:20.500549+00:00"); removal texts were
English only and cited docs/decisions to citizens; the authority's name was Chinese only.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest

from socialcredit.catalogue import Catalogue
from socialcredit.keys import create_key
from socialcredit.store import Database
from test_web import LISTED, REVOKED, Portal, _serve, _text


@pytest.fixture
def portal(db: Database, catalogue: Catalogue) -> Iterator[Portal]:
    for p in _serve(db, catalogue):
        with db.engine.begin() as conn:
            now = dt.datetime.now(dt.UTC)
            p.tokens["revoked"] = create_key(conn, "subject", catalogue, now, subject=REVOKED)[1]
        yield p


def _file(portal: Portal, who: str) -> str:
    resp = portal.client.post("/portal/me", data={"token": portal.tokens[who]})
    assert resp.status_code == 200, resp.text
    return resp.text


def test_objection_is_open_while_the_record_is_in_force(portal: Portal) -> None:
    assert LISTED
    text = _text(_file(portal, "subject"))
    assert "until about" not in text and "约至" not in text  # no filing window that runs out
    assert "at any time while the record is in force" in text and "记录有效期间可随时" in text
    assert "decides within 15 days" in text and "15 日内作出决定" in text


def test_ended_record_shows_its_end_in_china_time(portal: Portal) -> None:
    html = _file(portal, "revoked")
    text = _text(html)
    ended = text.split("Ended", 1)[1][:40]
    assert re.match(r"\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00", ended), ended
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", text)  # no raw ISO instant anywhere in the text


def test_file_data_is_in_both_languages_and_cites_no_internal_notes(portal: Portal) -> None:
    html = _file(portal, "subject")
    text = _text(html)
    assert "人民法院" in text and "The people&#39;s courts" in html  # the authority in both languages
    assert "Judgment defaulter (able to perform but refusing)" in text  # the category in English too
    assert "三个工作日内删除" in text and "Deleted within 3 working days" in text  # removal in both
    assert "docs/decisions" not in html
