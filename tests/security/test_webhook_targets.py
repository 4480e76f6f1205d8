"""Webhook targets: no server-side request forgery into the registry's own network (issue 15 §6), and a delivered
webhook keeps its HTTP status (issue 16 §2.17).

The attacks pinned: a subscriber with a feed key names ``http://169.254.169.254/latest/meta-data/`` (the cloud
metadata service) or ``http://127.0.0.1:5432/`` (the database) as its webhook URL, and the dispatcher POSTs
there from inside the network; on main both were accepted. A name that resolves to a public address when
subscribing and to 127.0.0.1 when delivering (DNS rebinding) is checked again at delivery.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from feed_receiver import Receiver
from process_helpers import file
from socialcredit.catalogue import Catalogue
from socialcredit.feed import Dispatcher, DispatchSettings, FeedInvalid, create_subscription
from socialcredit.feed.targets import refusal
from socialcredit.settings import get_settings
from socialcredit.store import Database
from socialcredit.store.tables import deliveries, subscriptions
from test_api_helpers import Api, problem, serve

FAST = DispatchSettings(max_attempts=5, backoff_base=0.01, backoff_max=0.05, timeout=2.0)

REFUSED = [
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://127.0.0.1:5432/", "loopback"),
    ("http://localhost:8080/hook", "loopback"),
    ("http://10.1.2.3/hook", "private"),
    ("http://172.16.0.1/hook", "private"),
    ("https://192.168.1.10/hook", "private"),
    ("http://100.64.0.1/hook", "not globally routable"),  # carrier-grade NAT
    ("http://0.0.0.0:8000/hook", "unspecified"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://240.0.0.1/hook", "reserved"),
    ("http://[::1]:5432/", "loopback"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://[fd00::1]/hook", "private"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),  # IPv4-mapped: the same socket as 127.0.0.1
    ("http://[::ffff:169.254.169.254]/hook", "link-local"),
    ("http://[64:ff9b::a9fe:a9fe]/hook", "link-local"),  # NAT64 of 169.254.169.254
    ("http://2130706433/hook", "loopback"),  # 127.0.0.1 as one decimal number: resolvers take it so
]


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The production default: private targets refused (a test receiver elsewhere may have allowed them)."""
    monkeypatch.setenv("SOCIALCREDIT_WEBHOOK_ALLOW_PRIVATE", "false")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def api(db: Database, catalogue: Catalogue, strict: None) -> Iterator[Api]:
    yield from serve(db, catalogue)


@pytest.mark.parametrize(("url", "kind"), REFUSED)
def test_subscription_to_a_non_public_target_is_refused(
    db: Database, strict: None, now: dt.datetime, url: str, kind: str
) -> None:
    with db.engine.begin() as conn, pytest.raises(FeedInvalid) as caught:
        create_subscription(conn, "bank", url, now)
    assert caught.value.field == "url" and caught.value.value == url and kind in caught.value.reason
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(subscriptions)).scalar_one() == 0


def test_public_addresses_are_allowed() -> None:
    import ipaddress

    for ip in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"):
        assert refusal(ipaddress.ip_address(ip)) is None, ip


def test_api_answers_a_problem_naming_the_url(api: Api) -> None:
    url = "http://169.254.169.254/latest/meta-data/"
    r = api.client.post("/v1/subscriptions", json={"url": url}, headers=api.headers("checkpoint"))
    body = problem(r, 422)
    assert "url" in body["detail"] and "169.254.169.254" in body["detail"] and "link-local" in body["detail"]
    assert (
        api.client.get("/v1/subscriptions", headers=api.headers("checkpoint")).json()["subscriptions"] == []
    )


def test_delivery_checks_again_after_dns_and_sends_nothing(
    db: Database, catalogue: Catalogue, now: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver().start()  # on 127.0.0.1; it allows private targets for the process: undone below
    try:
        monkeypatch.setenv("SOCIALCREDIT_WEBHOOK_ALLOW_PRIVATE", "false")
        get_settings.cache_clear()
        url = f"http://rebind.invalid:{receiver.port}/hook"
        with db.engine.begin() as conn:  # the name resolves to nothing yet: accepted, checked at delivery
            create_subscription(conn, "bank", url, now)
        real = socket.getaddrinfo

        def rebound(
            host: Any, *args: Any, **kwargs: Any
        ) -> Any:  # the name now points at the registry itself
            return real("127.0.0.1" if host == "rebind.invalid" else host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", rebound)
        file(db, catalogue, now)
        d = Dispatcher(db.engine, FAST)
        d.run_once()
        d.close()
        assert receiver.events == [] and receiver.refused == []  # no request reached it
        with db.engine.connect() as conn:
            (row,) = conn.execute(select(deliveries)).all()
        # FAST backs off briefly: one run_once may try the refused delivery again (claims re-read due rows).
        assert row.status == "pending" and row.attempts >= 1 and row.last_status is None
        assert "refused" in row.last_error and "127.0.0.1" in row.last_error and "loopback" in row.last_error
    finally:
        receiver.stop()
        get_settings.cache_clear()


def test_allowed_private_target_is_delivered_and_shows_its_status(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    """The setting lets a test receiver (127.0.0.1) through; the delivered row keeps the 200 (issue 16 §2.17:
    ``last_status`` was null after a delivery)."""
    receiver = Receiver().start()
    try:
        with db.engine.begin() as conn:
            sub = create_subscription(conn, "bank", receiver.url, now)
        receiver.secret = sub["secret"]
        file(db, catalogue, now)
        d = Dispatcher(db.engine, FAST)
        d.run_once()
        d.close()
        assert len(receiver.events) == 1
        with db.engine.connect() as conn:
            (row,) = conn.execute(select(deliveries)).all()
        assert row.status == "delivered" and row.last_status == 200 and row.last_error is None
    finally:
        receiver.stop()
