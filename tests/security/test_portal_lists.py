"""Attacks on the portal's lists and subject pages (issue 18 point 1): no full identifier anywhere, the
reference is not derivable from an identifier without the install's key, extreme filters never 5xx."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest

from factories import person_id, row
from socialcredit.api.budget import LookupHasher
from socialcredit.api.public_lists import subject_ref
from socialcredit.catalogue import Catalogue
from socialcredit.registry import check_row, file_batch
from socialcredit.store import Database
from test_api_helpers import Api, serve

PEOPLE = [person_id(61 + i) for i in range(3)]


@pytest.fixture
def api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    now = dt.datetime.now(dt.UTC)
    rows = [row(external_id=f"x-{i}", subject_id=p, subject_name=f"甲{i}") for i, p in enumerate(PEOPLE)]
    with db.engine.begin() as conn:
        file_batch(conn, [check_row(r, catalogue, now) for r in rows], catalogue, "test", now)
    yield from serve(db, catalogue)


def test_no_full_identifier_on_any_page(api: Api) -> None:
    pages = [api.client.get("/portal/lists"), api.client.get("/portal/lists/court.judgment_defaulter"),
             api.client.get("/portal/lists/court.judgment_defaulter", params={"format": "csv"})]  # fmt: skip
    refs = re.findall(r"/portal/subjects/([0-9a-f]{32})", pages[1].text)
    assert len(refs) == len(PEOPLE)
    pages += [api.client.get(f"/portal/subjects/{r}") for r in refs]
    for resp in pages:
        assert resp.status_code == 200
        assert not any(p in resp.text for p in PEOPLE)
        assert not any(p[:17] in resp.text for p in PEOPLE)  # not even without the check character


def test_ref_needs_the_key(tmp_path: object, api: Api) -> None:
    other = LookupHasher(f"{tmp_path}/other.key")
    page = api.client.get("/portal/lists/court.judgment_defaulter").text
    refs = set(re.findall(r"/portal/subjects/([0-9a-f]{32})", page))
    import hashlib

    for p in PEOPLE:
        assert subject_ref(other, p) not in refs  # another key gives other references
        assert hashlib.sha256(p.encode()).hexdigest()[:32] not in refs  # an unkeyed hash is not it


@pytest.mark.parametrize(
    "params",
    [{"page": "99999999999999999999"}, {"page": "-1"}, {"page": "1e9"}, {"from": "9999-99-99"},
     {"from": "0001-01-01", "to": "9999-12-31"}, {"region": "1" * 5000}, {"authority": "\x00<script>"},
     {"to": "2025-01-01\r\n"}, {"page": "10000"}],
)  # fmt: skip
def test_extreme_filters_never_5xx(api: Api, params: dict[str, str]) -> None:
    resp = api.client.get("/portal/lists/court.judgment_defaulter", params=params)
    assert resp.status_code in (200, 422), resp.text
    assert "<script>" not in resp.text and "Traceback" not in resp.text


def test_extreme_paths_are_404(api: Api) -> None:
    for path in ("/portal/lists/" + "a" * 5000, "/portal/subjects/" + "f" * 5000, "/portal/subjects/%00"):
        assert api.client.get(path).status_code == 404
