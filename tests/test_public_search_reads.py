"""Public search after issue 18's rewrite (EXISTS, one query a page, audit through the group commit), on both
databases: the same answers as before, and still never an unaudited one.

What each test pins: the page's records are read in one statement now, so a subject with several public
records must still show each in record order and a non-public or ended one must stay out; the audit entry
now goes through the AuditWriter, so it must be committed before the answer arrives, one per search, with the
hash chain intact when many searches run at once (decision 0604). These are guards of a rewrite for speed:
they pass before and after it, and fail if the rewrite changes an answer or lets one out unaudited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from factories import person_id, row
from socialcredit import audit
from socialcredit.catalogue import Catalogue
from socialcredit.identifiers import mask
from socialcredit.registry import check_row, file_batch, revoke
from socialcredit.store import Database
from socialcredit.store.tables import audit_log
from test_api_helpers import Api, serve

TWICE = person_id(31)  # a defaulter record and a consumption restriction, both public and in force
HIDDEN = person_id(33)  # a key-attention record (not public) and a revoked defaulter record


@pytest.fixture
def api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    now = dt.datetime.now(dt.UTC)
    rows = [
        row(external_id="t-1", subject_id=TWICE, subject_name="赵敏", decision_no="(2025)京执1号"),
        row(
            external_id="t-2",
            category="court.consumption_restriction",
            subject_id=TWICE,
            subject_name="赵敏",
            decision_no="(2025)京执2号",
        ),
        row(
            external_id="h-1",
            category="credit.key_attention",
            authority="ndrc",
            subject_id=HIDDEN,
            subject_name="赵敏敏",
        ),
        row(external_id="h-2", subject_id=HIDDEN, subject_name="赵敏敏", decision_no="(2025)京执3号"),
    ]
    with db.engine.begin() as conn:
        outcomes = file_batch(conn, [check_row(r, catalogue, now) for r in rows], catalogue, "test", now)
        revoke(conn, outcomes[3].record_id, "filed in error", "test", now)
    yield from serve(db, catalogue)


def _searches(api: Api) -> int:
    with api.db.engine.connect() as conn:
        q = select(func.count()).select_from(audit_log).where(audit_log.c.action == "public.search")
        return int(conn.execute(q).scalar_one())


def test_every_public_record_of_a_subject_is_shown_in_order(api: Api) -> None:
    body = api.client.get("/v1/public/search", params={"q": "赵敏"}).json()
    assert [h["id"] for h in body["results"]] == [mask(TWICE)]  # HIDDEN: nothing public in force
    shown = [r["decision_no"] for r in body["results"][0]["records"]]
    assert shown == ["(2025)京执1号", "(2025)京执2号"]


def test_the_answer_arrives_after_its_audit_entry_is_committed(api: Api) -> None:
    before = _searches(api)
    for n in range(1, 4):
        assert api.client.get("/v1/public/search", params={"q": "赵敏"}).status_code == 200
        assert _searches(api) == before + n  # read on another connection, right after the answer


def test_concurrent_searches_are_each_audited_on_one_chain(api: Api) -> None:
    before = _searches(api)
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(
                lambda _: api.client.get("/v1/public/search", params={"q": "赵敏"}).status_code, range(40)
            )
        )
    assert codes == [200] * 40
    assert _searches(api) == before + 40
    with api.db.engine.connect() as conn:
        assert audit.verify(conn).ok
