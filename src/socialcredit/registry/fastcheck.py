"""The import's fast path: a plain, valid row checked and prepared in one step, with no error bookkeeping.

An import's rows are nearly all plain and valid: texts, a known authority filing a known category, real dates,
identifiers in canonical form. :class:`FastCheck` handles exactly those: it computes what
:func:`.rows.check_row` then :func:`.prepared.prepare` would (the same :data:`Prepared` tuple, tested equal
over generated rows, valid and not) and declines anything else by returning None, and the caller then takes
the full path, which words every error. So the fast path never refuses a row and never words an error.

Why it pays: per row, the full path builds an error list, a dict of texts, a :class:`.rows.Filing` and
formats its instants; here the per-category facts (who may file it, its default and longest duration, the end
of its notice period at the import's clock) and the per-date values (the instants of a decision date and their
texts) are worked out once per import, and a row costs lookups and one text per stored field.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from typing import Any

from ..catalogue import Catalogue
from ..identifiers import Ident, IdentifierError, SubjectId, _parse, parse_plain
from .prepared import _QUOTE as Q
from .prepared import _TIMES, Prepared, _key, _term, for_copy, for_sqlite
from .rows import _COLUMN_SET, _CONTROL, DATE_RANGE
from .state import day_end, day_start, local_date, notice_end

__all__ = ["FastCheck"]

_Id = Ident | SubjectId  # a common identifier read the fast way, or any other the full way


class _Plan:
    """What a category's rows share: set once per import."""

    __slots__ = (
        "basis",
        "cap",
        "code",
        "default_end",
        "kinds",
        "notice",
        "open_end",
        "q_code",
        "red",
        "term_days",
    )

    def __init__(self, code: str, cat: Any, now: dt.datetime) -> None:
        self.code, self.q_code = code, Q(code)
        self.kinds = frozenset(cat.subject_kinds)
        self.red = cat.list == "red"
        days = cat.duration_days or cat.max_duration_days
        self.cap = cat.max_duration_days or cat.duration_days
        self.notice = (
            None if cat.takes_effect_at_once else notice_end(now, cat.notice_days, cat.notice_working_days)
        )
        # Days from the start to the default end; None where there is none, or it would pass the cap (refused),
        # or where the term runs from the notice's end (the full path computes that end: decision 0100).
        self.default_end = (
            days - 1
            if days and (not self.cap or days <= self.cap) and cat.term_from != "notice_end"
            else None
        )
        # A default term from the notice's end: its length, when the row may take it (within the cap).
        self.term_days = (
            days
            if days and (not self.cap or days <= self.cap) and cat.term_from == "notice_end" and self.notice
            else None
        )
        self.open_end = not days and cat.ends_by_fulfilment  # a record with no end is allowed
        self.basis = cat.legal_basis


class _Day:
    """A date as a row gives it, with the values of it the stored forms use."""

    __slots__ = ("date", "end_texts", "iso", "later", "start", "start_texts")

    def __init__(self, date: dt.date) -> None:
        self.date = date
        self.iso = date.isoformat()  # also as sqlite_date stores it
        self.start = day_start(date)
        self.start_texts = _TIMES(self.start)
        end, db_end = _TIMES(day_end(date))
        self.end_texts = (f'"effective_until":{end},', db_end)  # as a state's text has it, and as stored
        self.later: dict[int, _Day] = {}

    def after(self, days: int) -> _Day:
        """The day ``days`` later (a category's default end), remembered."""
        hit = self.later.get(days)
        if hit is None:
            hit = self.later[days] = _Day(self.date + dt.timedelta(days=days))
        return hit


class FastCheck:
    """``check(row, origin)``: the row's :data:`Prepared` form and key, or None to take the full path."""

    def __init__(
        self, catalogue: Catalogue, now: dt.datetime, allowlist: frozenset[str], dialect: str
    ) -> None:
        self.plans = {  # only pairs the full path accepts: a known authority that may file the category
            (a, code): _Plan(code, cat, now)
            for code, cat in catalogue.categories.items()
            for a in cat.authorities
            if a in catalogue.authorities
        }
        self.catalogue, self.now, self.dialect = catalogue, now, dialect
        self.today = local_date(now)
        self.now_texts = _TIMES(now)
        self.allow = allowlist
        self.pg = dialect == "postgresql"
        self.days: dict[str, _Day | None] = {}
        self.quoted_authority = {a: Q(a) for a in catalogue.authorities}

    def day(self, raw: str) -> _Day | None:
        hit = self.days.get(raw, False)
        if hit is not False:
            return hit  # type: ignore[return-value]
        day = None
        if len(raw) == 10 and raw[4] == "-" and raw[7] == "-":
            with contextlib.suppress(ValueError):  # not a real date: the full path says so
                date = dt.date.fromisoformat(raw)
                if DATE_RANGE[0] <= date <= DATE_RANGE[1]:
                    day = _Day(date)
        if len(self.days) > 20_000:
            self.days.clear()
        self.days[raw] = day
        return day

    def check(self, row: Any, origin: Any) -> Prepared | None:
        """The prepared form of a plain valid row (``origin`` as its source), else None."""
        if row.__class__ is not dict or not _COLUMN_SET.issuperset(row):
            return None
        get = row.get
        ext, authority, code = get("external_id"), get("authority"), get("category")
        sid_raw, name, decision_no, decided_raw = (
            get("subject_id"),
            get("subject_name"),
            get("decision_no"),
            get("decided_on"),
        )
        from_raw, until_raw, basis_raw, summary = (
            get("effective_from"),
            get("effective_until"),
            get("legal_basis"),
            get("summary"),
        )
        rep_raw, rep_name, ctl_raw, ctl_name = (
            get("legal_representative_id"),
            get("legal_representative_name"),
            get("actual_controller_id"),
            get("actual_controller_name"),
        )
        values = row.values()
        try:
            joined = "".join(values)  # every value a text (the common row): one call checks them all
        except TypeError:
            for v in values:
                if v is not None and v.__class__ is not str:
                    return None
            joined = "".join([v for v in values if v])
        if _CONTROL.search(joined):
            return None
        # Texts stripped, as the full path stores them; a required one blank or any one too long: the full path.
        ext = ext.strip() if ext else None
        name = name.strip() if name else None
        decision_no = decision_no.strip() if decision_no else None
        authority = authority.strip() if authority else None
        code = code.strip() if code else None
        if not (ext and name and decision_no and authority and code):
            return None
        if (
            len(ext) > 200
            or len(name) > 300
            or len(decision_no) > 200
            or len(authority) > 120
            or len(code) > 120
        ):
            return None
        plan = self.plans.get((authority, code))
        if plan is None:
            return None
        basis = basis_raw.strip() if basis_raw else None
        summary = summary.strip() if summary else ""
        rep_name = rep_name.strip() if rep_name else None
        ctl_name = ctl_name.strip() if ctl_name else None
        if (
            (basis and len(basis) > 2000)
            or len(summary) > 4000
            or (rep_name and len(rep_name) > 300)
            or (ctl_name and len(ctl_name) > 300)
        ):
            return None
        rep_name = rep_name or None
        ctl_name = ctl_name or None
        allow = self.allow
        sid = sid_raw.strip() if sid_raw else None
        rep_s = rep_raw.strip() if rep_raw else None
        ctl_s = ctl_raw.strip() if ctl_raw else None
        if not sid or len(sid) > 120 or (rep_s and len(rep_s) > 120) or (ctl_s and len(ctl_s) > 120):
            return None
        try:
            subject: _Id = parse_plain(sid, allow) or _parse(sid, allow, None)
            rep: _Id | None = (parse_plain(rep_s, allow) or _parse(rep_s, allow, None)) if rep_s else None
            ctl: _Id | None = (parse_plain(ctl_s, allow) or _parse(ctl_s, allow, None)) if ctl_s else None
        except IdentifierError:
            return None
        if subject.kind not in plan.kinds:
            return None
        if (rep or ctl) and (
            subject.kind != "organisation"
            or (rep is not None and rep.kind != "person")
            or (ctl is not None and ctl.kind != "person")
        ):
            return None
        if not decided_raw:
            return None
        decided_day = self.day(decided_raw)
        if decided_day is None:
            return None
        decided = decided_day.date
        birth = subject.birth_date
        if (
            birth is not None
            and not plan.red
            and decided.year - birth.year - ((decided.month, decided.day) < (birth.month, birth.day)) < 18
        ):
            return None
        if decided > self.today:
            return None
        start_day = decided_day
        if from_raw:
            given = self.day(from_raw)
            if given is None or given.date < decided:
                return None
            start_day = given
        until_day: _Day | None = None
        term_end: dt.datetime | None = None
        if until_raw:
            until_day = self.day(until_raw)
            if until_day is None:
                return None
            span = (until_day.date - start_day.date).days + 1
            if span < 1 or (plan.cap and span > plan.cap):
                return None
        elif plan.default_end is not None:
            until_day = start_day.after(plan.default_end)
        elif plan.term_days is not None and plan.notice is not None:
            until_day = start_day.after(plan.term_days - 1)  # the row's own reading, for the content hash
            # The term runs from when the measures begin (registry.state.term_bounds, decision 0100).
            term_end = max(start_day.start, plan.notice) + dt.timedelta(days=plan.term_days)
        elif not plan.open_end:
            return None
        basis = basis or plan.basis
        rep_id = rep.canonical if rep is not None else None
        ctl_id = ctl.canonical if ctl is not None else None
        subject_id = subject.canonical
        body = "\x1f".join([
            authority, ext, code, subject_id, name, decision_no, decided_day.iso, start_day.iso,
            until_day.iso if until_day is not None else "\x1e", basis, summary,
            rep_id if rep_id is not None else "\x1e", rep_name if rep_name is not None else "\x1e",
            ctl_id if ctl_id is not None else "\x1e", ctl_name if ctl_name is not None else "\x1e",
        ])  # fmt: skip
        digest = hashlib.sha256(body.encode()).hexdigest()
        return self._prepared(
            authority, ext, plan, subject, name, decision_no, decided_day, start_day, until_day, basis, summary,
            rep, rep_name, ctl, ctl_name, digest, origin, term_end,
        )  # fmt: skip

    def _prepared(
        self, authority: str, ext: str, plan: _Plan, subject: _Id, name: str, decision_no: str,
        decided: _Day, start: _Day, until: _Day | None, basis: str, summary: str,
        rep: _Id | None, rep_name: str | None, ctl: _Id | None, ctl_name: str | None,
        digest: str, origin: Any, term_end: dt.datetime | None = None,
    ) -> Prepared:  # fmt: skip
        """As :func:`.prepared.prepare` writes the filing these values make (a test holds them equal)."""
        s_start, db_start = start.start_texts
        if plan.notice is not None and plan.notice > start.start:
            s_applies, db_applies = _TIMES(plan.notice)
        else:
            s_applies, db_applies = s_start, db_start
        if term_end is not None:
            s_text, db_until = _TIMES(term_end)
            s_until = f'"effective_until":{s_text},'
        elif until is None:
            s_until, db_until = "", None
        else:
            s_until, db_until = until.end_texts
        s_now, db_now = self.now_texts
        q_authority, q_code, q_ext = self.quoted_authority[authority], plan.q_code, Q(ext)
        subject_id = subject.canonical
        q_subject = Q(subject_id)
        rep_id = rep.canonical if rep is not None else None
        ctl_id = ctl.canonical if ctl is not None else None
        s_head = (
            f"{{{_key('actual_controller_id', ctl_id)}{_key('actual_controller_name', ctl_name)}"
            f'"applies_from":{s_applies},"authority":{q_authority},"category":{q_code},'
            f'"content_hash":"{digest}","decided_on":"{decided.iso}",'
            f'"decision_no":{Q(decision_no)},"effective_from":{s_start},{s_until}'
            f'"external_id":{q_ext},"filed_at":{s_now},'
        )
        s_tail = (
            f',"legal_basis":{Q(basis)},{_key("legal_representative_id", rep_id)}'
            f'{_key("legal_representative_name", rep_name)}"status":"filed",'
            f'"subject_id":{q_subject},"subject_name":{Q(name)},"summary":{Q(summary)}'
            f"{_term(plan.term_days if term_end is not None else None)}}}"
        )
        first = (
            subject_id,
            subject.kind,
            name,
            subject.region_code,
            subject.region,
            int(subject.allowlisted),
        )
        subs: tuple[Any, ...]
        if rep_id is None and ctl_id is None:
            ids = f"[{q_subject}]"
            subs = (first,)
        else:
            quoted, subs_l = [q_subject], [first]
            for sid, nm in ((rep, rep_name), (ctl, ctl_name)):
                if sid is not None:
                    quoted.append(Q(sid.canonical))
                    subs_l.append(
                        (sid.canonical, sid.kind, nm or "", sid.region_code, sid.region, int(sid.allowlisted))
                    )
            ids = f"[{', '.join(quoted)}]"
            subs = tuple(subs_l)
        texts = (s_head, s_tail, ids)
        record = (
            None, authority, ext, plan.code, subject_id, name, decision_no, decided.iso, db_start, db_until,
            basis, summary, rep_id, rep_name, ctl_id, ctl_name, "filed", db_applies, None, "[]", None, digest,
            db_now, db_now,
        )  # fmt: skip
        if self.pg:
            return for_copy(authority, ext, digest, subs, texts, record, origin)
        return (authority, ext, digest, subs, *texts, for_sqlite(record), origin)
