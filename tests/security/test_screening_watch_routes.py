"""``/v1/screening-watchlists/{name}/runs``: a saved screening is run and read only by the key that saved it
(another key's 404 is the one a never-saved name gets: no oracle), a checkpoint sees nothing of the file, a
screener only public listings with masked identifiers, bad names are 422 and never 5xx, every run audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from factories import person_id
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.identifiers import mask
from socialcredit.keys import create_key
from socialcredit.store import Database
from socialcredit.store.tables import audit_log
from test_api_helpers import Api, problem, serve
from test_engine_support import file

runner = CliRunner()
LISTED = person_id(201)
HIDDEN = person_id(203)
RUNS = "/v1/screening-watchlists/{}/runs"


@pytest.fixture
def api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    yield from serve(db, catalogue)


def _key_id(token: str) -> str:
    return token.split("_")[1]


def _save(tmp_path: Path, owner: str, *extra: str) -> None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = tmp_path / "book.csv"
    src.write_text(f"ref,subject_id\na,{LISTED}\nb,{HIDDEN}\nc,{person_id(205)}\n", encoding="utf-8")
    res = runner.invoke(
        app,
        ["screen", str(src), "--out", str(tmp_path / "o.csv"), "--save", "book", "--owner", owner, *extra],
    )
    assert res.exit_code == 0, res.output


def _auth(token: str, purpose: bool = True) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **({"X-Purpose": "credit review"} if purpose else {})}


def _file_both(api: Api, catalogue: Catalogue) -> None:
    then = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    file(api.db.engine, catalogue, then, subject_id=LISTED, subject_name="李四")
    file(
        api.db.engine,
        catalogue,
        then,
        subject_id=HIDDEN,
        subject_name="王五",
        category="credit.key_attention",
        authority="samr",
        external_id="KA-1",
    )


def test_only_the_saving_key_runs_or_reads_it_and_others_learn_nothing(
    api: Api, catalogue: Catalogue, tmp_path: Path
) -> None:
    owner = api.tokens["registrar"]
    _save(tmp_path, _key_id(owner))
    problem(api.client.get(RUNS.format("book") + "/last", headers=_auth(owner)), 404)  # not run yet
    _file_both(api, catalogue)
    r = api.client.post(RUNS.format("book"), headers=_auth(owner))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["summary"]["rescored"] == 2 and body["summary"]["rows"] == 3
    assert [(c["row"], c["change"]) for c in body["changes"]] == [(1, "newly_hit"), (2, "newly_hit")]
    own, other = (c["matches"][0]["reasons"][0] for c in body["changes"])
    assert own["category"] == "court.judgment_defaulter" and own["record_id"]  # the court's own record
    assert set(other) <= {"valid_until"}  # samr's record: neither its id nor its category to a court
    assert api.client.get(RUNS.format("book") + "/last", headers=_auth(owner)).json() == body

    # Another registrar, or a checkpoint that did not save it: exactly the 404 of a name never saved.
    for other in ("registrar_other", "checkpoint"):
        for method, path in (("post", RUNS.format("book")), ("get", RUNS.format("book") + "/last")):
            got = problem(api.client.request(method, path, headers=_auth(api.tokens[other])), 404)
            never = problem(
                api.client.request(method, path.replace("book", "nothing"), headers=_auth(api.tokens[other])),
                404,
            )
            assert got["detail"].replace("book", "X") == never["detail"].replace("nothing", "X")
    for role in ("subject", "auditor", "admin"):
        problem(api.client.post(RUNS.format("book"), headers=_auth(api.tokens[role])), 403)
    problem(api.client.post(RUNS.format("book")), 401)
    with api.db.engine.connect() as conn:
        outcomes = conn.execute(
            select(audit_log.c.actor, audit_log.c.outcome).where(audit_log.c.action == "screening.monitor")
        ).all()
    assert (_key_id(owner), "2 of 3 rows re-scored, 2 changed") in outcomes
    assert sum(1 for _, o in outcomes if o == "refused: 404") >= 4


def test_a_checkpoint_sees_answers_only_and_a_screener_public_listings_masked(
    api: Api, db: Database, catalogue: Catalogue, tmp_path: Path
) -> None:
    cp = api.tokens["checkpoint"]
    _save(tmp_path / "cp", _key_id(cp), "--action", "transport.air.ticket")
    now = dt.datetime.now(dt.UTC)
    with db.engine.begin() as conn:
        screener = create_key(conn, "screener", catalogue, now)[1]
    _save(tmp_path / "sc", _key_id(screener))
    _file_both(api, catalogue)

    body = api.client.post(RUNS.format("book"), headers=_auth(cp)).json()
    text = str(body["changes"])
    assert body["changes"] and LISTED not in text and "李四" not in text and "record_id" not in text
    assert body["changes"] == [
        {
            "row": 1,
            "action": "transport.air.ticket",
            "allowed_before": True,
            "allowed": False,
            "effects": ["deny"],
        }
    ]  # row 2's key-attention listing changes no answer: the checkpoint does not learn of it
    assert set(body["summary"]) == {"screening", "at", "previous_at", "rows", "rescored", "changed"}

    r = api.client.post(RUNS.format("book"), headers=_auth(screener, purpose=False))
    assert r.status_code == 200, r.text
    changes = r.json()["changes"]
    assert [c["row"] for c in changes] == [1]  # the key-attention list is not public: row 2 stays clear
    assert changes[0]["matches"][0]["subject_id"] == mask(LISTED) != LISTED


@pytest.mark.parametrize("name", ["a" * 101, "..", "-x", "a b", "名单", "%00", "a" * 5000])
def test_bad_names_are_refused_without_a_5xx(api: Api, name: str) -> None:
    r = api.client.post(RUNS.format(name), headers=_auth(api.tokens["registrar"]))
    assert r.status_code in (404, 405, 422), r.text
