"""Who sees grade.changed (decision 1011, by the rules of grades, decision 1002): registrars, through their feed
read, their subscriptions and their watchlists, another authority's record id hidden; never a checkpoint (its
feed read and its webhooks carry the record event only), an auditor without subject or grade, nobody else."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from factories import org_id, row
from socialcredit.catalogue import Catalogue
from socialcredit.feed import HEADER, Dispatcher, verify_signature
from socialcredit.feed.grades import GRADE_CHANGED, Grader
from socialcredit.settings import get_settings
from socialcredit.store import Database
from test_api_helpers import Api, problem, serve

ORG = org_id(71)


@pytest.fixture
def api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    for served in serve(db, catalogue):
        fields = row(external_id="(2026)京0105执71号", subject_id=ORG, subject_name="公司71")
        made = served.client.post("/v1/records", json=fields, headers=served.headers("registrar"))
        assert made.status_code == 201, made.text
        assert Grader(catalogue).run_until_idle(db.engine) == 2  # both default models move
        yield served


def _feed(api: Api, role: str, query: str = "") -> list[dict[str, object]]:
    resp = api.client.get(f"/v1/feed?limit=1000{query}", headers=api.headers(role))
    assert resp.status_code == 200, resp.text
    events: list[dict[str, object]] = resp.json()["events"]
    return events


def _cause(ev: dict[str, object]) -> dict[str, object]:
    cause = ev["cause"]
    assert isinstance(cause, dict)
    return cause


def test_a_registrar_reads_the_grade_changes_and_only_those(api: Api) -> None:
    events = _feed(api, "registrar")
    assert [e["type"] for e in events] == [GRADE_CHANGED] * 2
    assert {e["model"] for e in events} == {"public_credit", "samr_risk"}
    assert all(e["subject_id"] == ORG and isinstance(_cause(e)["record_id"], int) for e in events)
    # Like every registrar read of personal data, with a purpose.
    problem(api.client.get("/v1/feed", headers=api.headers("registrar", None)), 422)


def test_another_authoritys_registrar_gets_the_grades_without_the_record_id(api: Api) -> None:
    mine, theirs = _feed(api, "registrar"), _feed(api, "registrar_other")
    assert [(e["old_grade"], e["new_grade"]) for e in mine] == [
        (e["old_grade"], e["new_grade"]) for e in theirs
    ]
    assert all(_cause(e)["record_id"] is None and _cause(e)["authority"] == "court" for e in theirs)


def test_a_checkpoint_never_gets_a_grade_change(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # Its feed read: the record event (a flight ban on the company), nothing of the grades.
    resp = api.client.get("/v1/feed?limit=1000", headers=api.headers("checkpoint"))
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["events"]) == 1 and "grade" not in resp.text
    # Its webhooks: the same; and it may not ask for the type.
    monkeypatch.setenv("SOCIALCREDIT_WEBHOOK_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    hook = {"url": "http://hooks.bank.example/credit", "from_start": True}
    typed = {**hook, "types": [GRADE_CHANGED]}
    problem(api.client.post("/v1/subscriptions", json=typed, headers=api.headers("checkpoint")), 422)
    made = api.client.post("/v1/subscriptions", json=hook, headers=api.headers("checkpoint"))
    assert made.status_code == 201, made.text
    bodies: list[bytes] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(200)

    d = Dispatcher(api.db.engine, client=httpx.Client(transport=httpx.MockTransport(endpoint)))
    d.run_once()
    d.close()
    assert len(bodies) == 1 and b"grade" not in bodies[0]


def test_an_auditor_sees_that_it_travelled_without_subject_or_grade(api: Api) -> None:
    events = [e for e in _feed(api, "auditor") if e["type"] == GRADE_CHANGED]
    assert len(events) == 2
    assert all(
        set(e) == {"cursor", "event_id", "record_id", "type", "category", "recorded_at"} for e in events
    )
    assert all(str(e["event_id"]).startswith("grade:") for e in events)


@pytest.mark.parametrize("role", ["subject", "screener", "admin", None])
def test_nobody_else_reads_the_feed(api: Api, role: str | None) -> None:
    problem(api.client.get("/v1/feed", headers=api.headers(role)), 401 if role is None else 403)


def test_a_registrar_subscription_delivers_grade_changes_signed(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOCIALCREDIT_WEBHOOK_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    hook = {"url": "http://hooks.samr.example/grades", "from_start": True, "types": [GRADE_CHANGED]}
    wrong = {**hook, "types": ["objected"]}
    err = problem(
        api.client.post("/v1/subscriptions", json=wrong, headers=api.headers("registrar_other")), 422
    )
    assert err["errors"][0]["loc"] == ["body", "types"]
    made = api.client.post("/v1/subscriptions", json=hook, headers=api.headers("registrar_other"))
    assert made.status_code == 201, made.text
    got: list[tuple[dict[str, str], bytes]] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        verify_signature(made.json()["secret"], request.headers[HEADER], request.content, time.time())
        got.append((dict(request.headers), request.content))
        return httpx.Response(200)

    d = Dispatcher(api.db.engine, client=httpx.Client(transport=httpx.MockTransport(endpoint)))
    d.run_once()
    d.close()
    events = [json.loads(b) for _, b in got]
    assert [e["type"] for e in events] == [GRADE_CHANGED] * 2
    assert all(e["cause"]["record_id"] is None for e in events)  # a court record, and a samr key
    assert [h["x-socialcredit-event-id"] for h, _ in got] == [e["event_id"] for e in events]
    assert {h["x-socialcredit-event-type"] for h, _ in got} == {GRADE_CHANGED}
    listed = api.client.get(f"/v1/subscriptions/{made.json()['id']}", headers=api.headers("registrar_other"))
    assert listed.json()["deliveries"]["delivered"] == 2
    # Another key does not see it.
    problem(api.client.get(f"/v1/subscriptions/{made.json()['id']}", headers=api.headers("registrar")), 404)


def test_a_registrar_watchlist_filters_its_feed(api: Api, now: dt.datetime) -> None:
    h = api.headers("registrar")
    wl = api.client.post("/v1/watchlists", json={"name": "supervised"}, headers=h).json()
    for members, n in (([org_id(72)], 0), ([ORG], 2)):
        put = api.client.put(f"/v1/watchlists/{wl['id']}/members", json={"subject_ids": members}, headers=h)
        assert put.status_code == 200, put.text
        assert len(_feed(api, "registrar", f"&watchlist={wl['id']}")) == n
    # The monitor stays a checkpoint's (it answers by actions).
    problem(api.client.post(f"/v1/watchlists/{wl['id']}/monitor", headers=h), 403)
