"""Public endpoints, no key: search of published listings, and the catalogue (the rules are public law).

Search shows only records in force of categories the catalogue marks public, with the fields the SPC
provisions publish (art. 6), and masks every person's identity number. It cannot enumerate a list: a query of
at least two characters, 20 results a page, at most ``MAX_PAGES`` pages, and a per-client rate limit. A full
identifier matches exactly, and a person's costs one lookup of the identifier budget (``budget``: an exact
lookup is an oracle on the hidden digits); a masked identifier, as search shows it, matches the subjects shown
under it (how the reconciliation view URL resolves); anything else matches names.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import Connection, and_, func, or_, select
from starlette.concurrency import run_in_threadpool

from ...audit import AuditEntry
from ...identifiers import IdentifierError, mask, parse
from ...process.publication import is_published
from ...registry import display_status
from ...registry.state import RecordState
from ...screening.matcher import NameQuery
from ...store.tables import record_events, records, subjects
from ..budget import masked_identifier
from ..deps import PublicLimit, StateDep, charge_identifiers, client_of, utcnow
from ..errors import plain_text, responses
from ..schemas import PublicSearchPage
from ..state import AppState
from ..views import public_record

__all__ = ["MAX_PAGES", "PAGE_SIZE", "listed_subjects", "lookup_target", "router", "search_subjects"]

router = APIRouter(tags=["public"])
PAGE_SIZE = 20
MAX_PAGES = 5


def _in_force_public(state: AppState, now: dt.datetime) -> Any:
    public = [c for c, cat in state.catalogue.categories.items() if cat.public]
    return and_(
        records.c.category.in_(public),
        records.c.status == "filed",
        records.c.applies_from <= now,
        or_(records.c.effective_until.is_(None), records.c.effective_until > now),
    )


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_MASKED_RESIDENT = re.compile(r"^(\d{6})\*{11}([0-9X])$")
_MASKED_PASSPORT = re.compile(r"^(passport:[A-Z]{3}:)(\*+)([A-Z0-9]{0,2})$")


def _masked_pattern(q: str) -> str | None:
    """A LIKE pattern for the identifiers ``q`` masks, if ``q`` is a masked identifier as search shows one
    (a resident ID's region, 11 asterisks and check character; a passport's country, asterisks, last two)."""
    if m := _MASKED_RESIDENT.match(q):
        return m[1] + "_" * 11 + m[2]
    if m := _MASKED_PASSPORT.match(q):
        return m[1] + "_" * len(m[2]) + m[3]
    return None


def lookup_target(state: AppState, canonical: str) -> str:
    """How an audit entry names a looked-up identifier: masked (as the public sees it) and keyed-hashed (so
    an auditor who knows the identifier finds the lookup, and the log holds no list of guessed numbers)."""
    return f"{mask(canonical)} {state.lookups.tag(canonical)}"


def _newest_states(conn: Connection, subject_ids: list[str], listed: Any) -> dict[str, list[RecordState]]:
    """The newest state of every listed record of ``subject_ids``, by subject, in record order: one query for
    a page (it was two per hit)."""
    if not subject_ids:
        return {}
    ids = select(records.c.id).where(listed, records.c.subject_id.in_(subject_ids))
    newest = (
        select(func.max(record_events.c.seq))
        .where(record_events.c.record_id.in_(ids))
        .group_by(record_events.c.record_id)
    )
    rows = conn.execute(
        select(record_events.c.record_id, record_events.c.state)
        .where(record_events.c.seq.in_(newest))
        .order_by(record_events.c.record_id)
    ).all()
    out: dict[str, list[RecordState]] = {}
    for _, body in rows:
        st = RecordState.from_json(body)
        out.setdefault(st.subject_id, []).append(st)
    return out


def search_subjects(
    conn: Connection, state: AppState, q: str, now: dt.datetime, offset: int, limit: int
) -> list[dict[str, Any]]:
    """Subjects matching ``q`` (exact identifier, masked identifier, else name substring) with public records
    in force."""
    masked = _masked_pattern(q)
    by_name = False
    try:
        cond = subjects.c.id == parse(q, state.settings.allowlisted_codes()).canonical
    except IdentifierError:
        if masked is not None:
            cond = subjects.c.id.like(masked, escape="\\")
        else:
            by_name = True
            cond = subjects.c.name.like(f"%{_escape(q)}%", escape="\\")
    listed = _in_force_public(state, now)
    # EXISTS, correlated on ix_records_subject_id: each candidate subject probes its own records. The form
    # ``subjects.id IN (SELECT subject_id FROM records WHERE listed)`` scanned every record on each search
    # (7-13x slower at 100,000 listed subjects; benchmarks/bench_public_search.py).
    found = conn.execute(
        select(subjects.c.id, subjects.c.name, subjects.c.kind)
        .where(cond)
        .where(select(records.c.id).where(records.c.subject_id == subjects.c.id, listed).exists())
        .order_by(subjects.c.name, subjects.c.id)
        .offset(offset)
        .limit(limit)
    ).all()
    # The LIKE pattern is looser than the mask (e.g. a passport's country): only exact masks are kept.
    hits = _shown(conn, state, [f for f in found if masked is None or mask(f[0]) == q], listed, now)
    if by_name and offset == 0 and len(hits) < limit:
        hits += _by_name_keys(conn, state, q, now, {sid for sid, _ in hits}, limit - len(hits))
    return [hit for _, hit in hits]


def _by_name_keys(
    conn: Connection, state: AppState, q: str, now: dt.datetime, seen: set[str], room: int
) -> list[tuple[str, dict[str, Any]]]:
    """Subjects the screening matcher's name keys find for ``q`` (a pinyin "Zhang Wei" finds 张伟), after the
    substring hits, each confirmed listed now (decisions 0906, 0610); on the first page only."""
    try:
        query = NameQuery(q)
    except ValueError:
        return []
    found = state.names.index(conn, state.catalogue, now).match(query, limit=room * 2)
    listed = listed_subjects(conn, state, [m.subject_id for m in found if m.subject_id not in seen], now)
    out = []
    for m in found:
        if m.subject_id in listed and m.subject_id not in seen:
            seen.add(m.subject_id)
            out.append((m.subject_id, listed[m.subject_id]))
    return out[:room]


def listed_subjects(conn: Connection, state: AppState, ids: list[str], now: dt.datetime) -> dict[str, Any]:
    """Of the subjects ``ids`` (canonical), those the public sees listed now, each as search shows it, by
    canonical id (reconciliation's name matches are confirmed here)."""
    if not ids:
        return {}
    listed = _in_force_public(state, now)
    found = conn.execute(
        select(subjects.c.id, subjects.c.name, subjects.c.kind)
        .where(subjects.c.id.in_(ids))
        .where(select(records.c.id).where(records.c.subject_id == subjects.c.id, listed).exists())
    ).all()
    return dict(_shown(conn, state, found, listed, now))


def _shown(
    conn: Connection, state: AppState, found: Any, listed: Any, now: dt.datetime
) -> list[tuple[str, dict[str, Any]]]:
    """Each subject of ``found`` with a published record in force, as search shows it, beside its id."""
    by_subject = _newest_states(conn, [sid for sid, _, _ in found], listed)
    hits = []
    for sid, name, kind in found:
        shown = [
            public_record(s, state.catalogue)
            for s in by_subject.get(sid, [])
            if display_status(s, now) == "in_force"
            and is_published(s, state.catalogue.categories[s.category], now)
        ]
        if shown:  # a suspended record is not published
            hits.append((sid, {"name": name, "id": mask(sid), "kind": kind, "records": shown}))
    return hits


@router.get("/v1/public/search", response_model=PublicSearchPage, responses=responses(422, 429))
async def public_search(
    request: Request,
    state: StateDep,
    _limit: PublicLimit,
    q: Annotated[
        str,
        Query(
            min_length=2,
            max_length=100,
            description="A name (2+ characters) or a full identifier.",
            examples=["王芳"],
        ),
    ],
    page: Annotated[int, Query(ge=1, le=MAX_PAGES, description=f"1 to {MAX_PAGES}")] = 1,
) -> Any:
    """Published listings in force, by name, full identifier or masked identifier; identity numbers masked."""
    query = str(plain_text(q, ["query", "q"])).strip()
    now = utcnow()
    looked_up = masked_identifier(query, state.settings.allowlisted_codes())
    client = client_of(request, state)
    if looked_up is not None:
        charge_identifiers(request, state, 1)
    what = f"q:{query}" if looked_up is None else f"id:{lookup_target(state, looked_up)}"

    def work() -> list[dict[str, Any]]:
        with state.db.engine.connect() as conn:
            return search_subjects(conn, state, query, now, (page - 1) * PAGE_SIZE, PAGE_SIZE + 1)

    hits = await run_in_threadpool(work)
    # The entry joins the audit writer's group commit, as checks' entries do (a search no longer holds the
    # write lock for its read, so searches run side by side); the answer waits for the commit, so an
    # unaudited search never leaves the server.
    await state.audit.record(
        AuditEntry(
            "public",
            "public",
            "public.search",
            f"{what} page:{page} client:{client}",
            f"ok: {min(len(hits), PAGE_SIZE)} results",
        )
    )
    if looked_up is not None:
        state.budget.settle(1 if hits else 0)
    return {
        "q": query,
        "page": page,
        "page_size": PAGE_SIZE,
        "has_more": len(hits) > PAGE_SIZE and page < MAX_PAGES,
        "results": hits[:PAGE_SIZE],
    }


@router.get("/v1/catalogue", tags=["catalogue"], responses=responses(422))
async def catalogue(state: StateDep) -> dict[str, Any]:
    """The catalogue in force: categories, actions, authorities, memoranda and their measures."""
    cat = state.catalogue
    return {
        "version": cat.version,
        "title": cat.title,
        "protected": list(cat.protected),
        "authorities": {k: v.model_dump(mode="json") for k, v in cat.authorities.items()},
        "actions": {k: v.model_dump(mode="json") for k, v in cat.actions.items()},
        "categories": {k: v.model_dump(mode="json") for k, v in cat.categories.items()},
        "memoranda": {k: v.model_dump(mode="json") for k, v in cat.memoranda.items()},
    }
