"""Search as you type does not use up the public rate limit (issue 18), on both databases.

Pinned defect: the home page's search box sent a search per pause in typing, each counted against the public
limit of 60 requests a minute, so a person typing a few names was refused their submitted search. Now the
box's requests carry ``X-Typeahead: 1`` and have a budget of their own (decision 0603); the identifier budget
of decision 0308 still charges every exact identifier lookup, typed or submitted.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from socialcredit.api import create_app
from socialcredit.catalogue import Catalogue
from socialcredit.settings import Settings
from socialcredit.store import Database
from test_web import LISTED, _file, _rows

TYPED = {"HX-Request": "true", "X-Typeahead": "1"}


@pytest.fixture
def client(db: Database, catalogue: Catalogue) -> Iterator[TestClient]:
    _file(db, catalogue, _rows())
    settings = Settings(
        database_url=str(db.engine.url),
        public_rate_limit=2,
        public_typeahead_limit=4,
        identifier_lookups_per_hour=1,
    )
    with TestClient(create_app(db, catalogue, settings), raise_server_exceptions=True) as c:
        yield c


def test_typing_leaves_the_submitted_searches_alone(client: TestClient) -> None:
    for q in ("王芳", "王芳科", "王芳科技"):
        assert client.get("/portal/search", params={"q": q}, headers=TYPED).status_code == 200
    for _ in range(2):  # the whole public limit is still there for searches a person submits
        assert client.get("/portal/search", params={"q": "王芳"}).status_code == 200
    assert client.get("/portal/search", params={"q": "王芳"}).status_code == 429


def test_typeahead_has_a_limit_of_its_own(client: TestClient) -> None:
    for _ in range(4):
        assert client.get("/portal/search", params={"q": "王芳"}, headers=TYPED).status_code == 200
    resp = client.get("/portal/search", params={"q": "王芳"}, headers=TYPED)
    assert resp.status_code == 429 and "search-as-you-type requests a minute" in resp.text
    # the API applies the same budget to a caller that marks its requests so
    assert (
        client.get("/v1/public/search", params={"q": "王芳"}, headers={"X-Typeahead": "1"}).status_code == 429
    )


def test_identifier_lookups_still_pay_the_identifier_budget(client: TestClient) -> None:
    assert client.get("/portal/search", params={"q": LISTED}, headers=TYPED).status_code == 200
    resp = client.get("/portal/search", params={"q": LISTED}, headers=TYPED)
    assert resp.status_code == 429  # one lookup an hour here, typed or not


def test_a_full_page_request_cannot_claim_the_typeahead_budget(client: TestClient) -> None:
    # The portal passes the mark on only for its own htmx fragment requests.
    for _ in range(2):
        assert (
            client.get("/portal/search", params={"q": "王芳"}, headers={"X-Typeahead": "1"}).status_code
            == 200
        )
    assert client.get("/portal/search", params={"q": "王芳"}, headers={"X-Typeahead": "1"}).status_code == 429


def test_search_box_marks_its_requests_and_waits_for_a_pause(client: TestClient) -> None:
    html = client.get("/").text
    assert 'hx-headers=\'{"X-Typeahead": "1"}\'' in html
    assert "delay:500ms" in html
