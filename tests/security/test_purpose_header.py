"""X-Purpose: one rule, enforced as the error states it and as docs/api.md states it. Pins issue 15 §6 (``...``
was accepted; a non-UTF-8 value was silently read as Latin-1) and issue 16 §2.13 (``boarding!`` was refused
while the docs allowed any UTF-8, and the reason said "printable characters" while the detail listed fewer)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from factories import row
from socialcredit.api.deps import PURPOSE_RULE
from socialcredit.catalogue import Catalogue
from socialcredit.store import Database
from test_api_helpers import SUBJECT, Api, problem, serve

CHECK = {"subject": SUBJECT, "action": "transport.air.ticket"}


@pytest.fixture
def api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    yield from serve(db, catalogue)


def _check(api: Api, purpose: bytes) -> object:
    headers = {**api.headers("checkpoint", purpose=None), "X-Purpose": purpose}
    return api.client.post("/v1/checks", json=CHECK, headers=headers)


@pytest.mark.parametrize(
    "purpose",
    ["boarding!", "登机检查 CA1234", "check #42 (gate B) — ok?", "abc", "é" * 200, "Übergabe: 50 % & mehr"],
)
def test_printable_purposes_with_a_letter_are_accepted(api: Api, purpose: str) -> None:
    api.client.post("/v1/records", json=row(), headers=api.headers("registrar"))
    resp = _check(api, purpose.encode())
    assert resp.status_code == 200, resp.text  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "purpose",
    ["...", "123 456", "!!", "ab", "a" * 201, "tab\there", "zero\u200bwidth", "bidi\u202eevil", "nul\x00x"],
)
def test_the_rule_is_stated_exactly_when_broken(api: Api, purpose: str) -> None:
    body = problem(_check(api, purpose.encode()), 422)
    assert body["errors"][0]["loc"] == ["header", "X-Purpose"]
    assert body["errors"][0]["reason"] == PURPOSE_RULE and body["detail"] == f"X-Purpose: {PURPOSE_RULE}"


def test_a_non_utf8_purpose_is_refused(api: Api) -> None:
    # Starlette's TestClient re-encodes header values as UTF-8; httpx's ASGI transport sends the bytes as given.
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=api.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            headers = {
                **api.headers("checkpoint", purpose=None),
                "X-Purpose": "vérification".encode("latin-1"),
            }
            return await http.post("/v1/checks", json=CHECK, headers=headers)

    body = problem(anyio.run(send), 422)
    assert body["errors"][0]["loc"] == ["header", "X-Purpose"] and "UTF-8" in body["errors"][0]["reason"]


def test_docs_state_the_rule_enforced() -> None:
    api_md = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    assert PURPOSE_RULE in " ".join(api_md.split())
