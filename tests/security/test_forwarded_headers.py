"""Who the client is: the socket peer, unless the peer is a proxy named in SOCIALCREDIT_TRUSTED_PROXIES. Pins
issue 15 §1: varying X-Forwarded-For per request from 127.0.0.1 gave every request a fresh budget (uvicorn
believes the header from 127.0.0.1 by default, and the app took the address uvicorn wrote)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from factories import person_id
from security.served import serve
from socialcredit.api import create_app
from socialcredit.api.budget import budget_key, client_address
from socialcredit.catalogue import Catalogue
from socialcredit.settings import Settings
from socialcredit.store import Database
from test_api_helpers import problem

STRANGER = person_id(7, birth="19900101")  # a valid identifier nobody has filed


def _client(db: Database, catalogue: Catalogue, tmp: Path, **settings: object) -> TestClient:
    s = Settings(
        database_url=str(db.engine.url),
        lookup_hash_key_file=str(tmp / "k"),
        **settings,  # type: ignore[arg-type]
    )
    return TestClient(
        create_app(db, catalogue, s), client=("127.0.0.1", 40000), raise_server_exceptions=False
    )


@pytest.fixture
def local(db: Database, catalogue: Catalogue, tmp_path: Path) -> Iterator[TestClient]:
    with _client(db, catalogue, tmp_path, identifier_lookups_per_hour=3) as client:
        yield client


def _search(client: TestClient, **headers: str) -> httpx.Response:
    return client.get("/v1/public/search", params={"q": STRANGER}, headers=headers)


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(local: TestClient) -> None:
    for i in range(3):
        assert _search(local, **{"X-Forwarded-For": f"203.0.113.{i}"}).status_code == 200
    # The attack: a new X-Forwarded-For (or X-Real-IP) per request no longer buys a new budget.
    problem(_search(local, **{"X-Forwarded-For": "203.0.113.99"}), 429)
    problem(_search(local, **{"X-Real-IP": "198.51.100.1"}), 429)


def test_a_trusted_proxy_s_forwarded_address_is_the_client(
    db: Database, catalogue: Catalogue, tmp_path: Path
) -> None:
    with _client(
        db, catalogue, tmp_path, identifier_lookups_per_hour=2, trusted_proxies="127.0.0.1, 10.0.0.0/8"
    ) as client:
        for i in range(3):  # distinct clients behind the proxy: each its own budget
            assert _search(client, **{"X-Forwarded-For": f"203.0.113.{i}"}).status_code == 200
        # The right-most untrusted hop counts: what a client prepends is its own word.
        for spoof in ("6.6.6.6", "7.7.7.7"):
            hdr = {"X-Forwarded-For": f"{spoof}, 198.51.100.7, 10.1.2.3"}
            assert _search(client, **hdr).status_code == 200
        problem(_search(client, **{"X-Forwarded-For": "8.8.8.8, 198.51.100.7"}), 429)
        assert _search(client, **{"X-Real-IP": "192.0.2.1"}).status_code == 200


def _request(peer: str, headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "client": (peer, 1), "headers": raw, "method": "GET", "path": "/"})


def test_client_address_rules() -> None:
    proxies = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))
    xff = {"X-Forwarded-For": "1.1.1.1, 2.2.2.2"}
    assert client_address(_request("192.0.2.9", xff), proxies) == "192.0.2.9"  # peer not a proxy
    assert client_address(_request("127.0.0.1", xff), ()) == "127.0.0.1"  # default: no proxy trusted
    assert client_address(_request("127.0.0.1", xff), proxies) == "2.2.2.2"
    assert client_address(_request("127.0.0.1", {"X-Forwarded-For": "10.0.0.2"}), proxies) == "10.0.0.2"
    assert client_address(_request("127.0.0.1", {"X-Forwarded-For": "junk, 10.0.0.2"}), proxies) == "10.0.0.2"
    assert client_address(_request("127.0.0.1", {"X-Real-IP": "junk"}), proxies) == "127.0.0.1"
    # IPv6 clients are counted per /64: rotating the interface id buys nothing.
    assert budget_key("2001:db8::1") == budget_key("2001:db8::ffff:1234") == "2001:db8::/64"
    assert budget_key("::ffff:192.0.2.1") == "192.0.2.1"


def test_trusted_proxies_setting_is_checked() -> None:
    with pytest.raises(ValueError, match="not-an-ip"):
        Settings(trusted_proxies="127.0.0.1, not-an-ip")


def test_a_real_server_does_not_let_uvicorn_believe_forwarded_headers(tmp_path: Path) -> None:
    with serve(tmp_path, identifier_lookups_per_hour="2") as served:
        codes = [
            httpx.get(
                served.url + "/v1/public/search",
                params={"q": STRANGER},
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
                timeout=10,
            ).status_code
            for i in range(3)
        ]
    assert codes == [200, 200, 429]
