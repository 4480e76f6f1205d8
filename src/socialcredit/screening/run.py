"""``screen_file``: every row of a file, in order, with its status, score and matches, written as it goes.

Per row, in this order:

* ``invalid``: the row could not be read (empty, bad JSON), its identifier is invalid, or a field a name match
  needs is malformed; ``reason`` says which and why. Never dropped.
* by ``subject_id`` when the row has one (the name is then not used): ``hit`` (score 1) when the subject is
  listed at the instant (itself, or as a company's legal representative or actual controller), else ``clear``;
* else by ``name`` (with ``kind``, ``birth_date``, ``region`` when given) against the listed subjects' names:
  ``hit`` at or above the threshold, ``possible_match`` from the matcher's POSSIBLE up to it, else ``clear``.

With an action, every match carries the decision ``check`` gives its subject for the action at the instant.
The output is written to a temporary file beside OUTPUT and renamed at the end: a failed run leaves no half
file.

A :class:`Shape` cuts what each audience sees (the HTTP route's views, decision 0910): it renders each
decision and may rewrite a chunk's added columns before they are written and counted. The default is the
operator's view, everything (the CLI).
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from sqlalchemy import Engine

from ..catalogue import Catalogue
from ..engine import Checker, Decision, UnknownAction
from .by_id import Listed, resolve
from .files import FORMATS, Chunk, ScreenInputError, digest, open_reader, resolve_format
from .matcher import HIT, POSSIBLE, NameIndex, NameMatch, NameQuery
from .writers import Added, open_writer

__all__ = ["HIT", "POSSIBLE", "Shape", "Summary", "screen_file"]

CHUNK = 50_000
_NO_MATCH: list[
    dict[str, Any]
] = []  # shared by every row without matches; rows are given new lists, never this one
_KINDS = {"person": "person", "organisation": "organisation", "organization": "organisation"}


@dataclass
class Summary:
    input: Path
    output: Path
    format: str
    sha256: str
    action: str | None = None
    at: dt.datetime | None = None
    catalogue_version: str = ""
    rows: int = 0
    counts: dict[str, int] = field(
        default_factory=lambda: {"hit": 0, "possible_match": 0, "clear": 0, "invalid": 0}
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": str(self.input),
            "output": str(self.output),
            "format": self.format,
            "sha256": self.sha256,
            "action": self.action,
            "at": None if self.at is None else self.at.isoformat(),
            "catalogue_version": self.catalogue_version,
            "rows": self.rows,
            **self.counts,
        }


class Shape:
    """The operator's view of a screening: every decision whole, every row as screened. Subclasses cut it."""

    def decision(self, d: Decision) -> dict[str, Any]:
        # What ``check --json`` prints (Decision.to_dict: a Reason's filing authority, kept for the API's
        # views, is not part of the answer).
        return d.to_dict()

    def rows(self, added: Added, listed: Listed) -> Added:
        """A chunk's added columns as this audience sees them (``listed`` holds the index's entries)."""
        return added


class _Names:
    """The name index over the listed subjects, built on the first row that needs it."""

    def __init__(self, listed: Listed) -> None:
        self._listed = listed
        self._index: NameIndex | None = None

    def match(self, q: NameQuery) -> list[NameMatch]:
        if self._index is None:
            self._index = NameIndex.build(self._listed.subjects())
        found: list[NameMatch] = self._index.match(q, limit=5, threshold=POSSIBLE)
        return found


def _present(values: list[Any]) -> npt.NDArray[np.bool_]:
    return pl.Series(values, dtype=pl.String).is_not_null().to_numpy()


def _name_query(f: dict[str, list[str | None]], i: int) -> NameQuery | str:
    """The row's name query, or the reason a field of it is malformed."""
    name = f["name"][i]
    assert name is not None
    kind = f["kind"][i] if "kind" in f else None
    if kind is not None:
        kind = _KINDS.get(kind.lower())
        if kind is None:
            return f"kind: {f['kind'][i]!r}: expected person or organisation"
    birth = f["birth_date"][i] if "birth_date" in f else None
    born = None
    if birth is not None:
        try:
            born = dt.date.fromisoformat(birth)
        except ValueError:
            return f"birth_date: {birth!r}: expected YYYY-MM-DD"
    region = f["region"][i] if "region" in f else None
    if region is not None and not (region.isascii() and region.isdigit() and len(region) in (2, 4, 6)):
        return f"region: {region!r}: expected a 2-, 4- or 6-digit administrative code"
    try:
        return NameQuery(name, kind, born, region)
    except ValueError as exc:  # e.g. a name over the matcher's length: that row is invalid, not the run
        return str(exc)


def _name_match(m: NameMatch, listed: Listed) -> dict[str, Any]:
    return {
        "subject_id": m.subject_id,
        "name": m.name,
        "kind": m.kind,
        "score": m.score,
        "matched_by": "name",
        "explanation": m.explanation,
        "features": m.features,
        "reasons": listed.match(m.subject_id)["reasons"],
    }


class _Screen:
    def __init__(
        self,
        checker: Checker,
        listed: Listed,
        action: str | None,
        at: dt.datetime,
        threshold: float,
        shape: Shape,
    ) -> None:
        self.shape = shape
        self.checker = checker
        self.listed = listed
        self.action = action
        self.at = at
        self.threshold = threshold
        self.names = _Names(listed)

    def chunk(self, c: Chunk) -> Added:
        """The added columns of a chunk: whole-column steps, then Python only for hits and name rows."""
        n = len(c)
        f = c.fields
        absent: list[str | None] = [None] * n
        ids = f.get("subject_id", absent)
        kinds = [(_KINDS.get(k.lower()) if k else None) for k in f.get("kind", absent)]
        got = resolve(ids, kinds, self.checker, self.listed)
        reason = list(c.errors)
        read_bad = _present(reason)
        id_given = _present(ids)
        id_bad = _present(got.errors) & ~read_bad
        named = _present(f.get("name", absent))
        hit = np.asarray(got.listed, bool) & ~read_bad
        for i in np.flatnonzero(id_bad).tolist():
            reason[i] = got.errors[i]
        for i in np.flatnonzero(~read_bad & ~id_given & ~named).tolist():
            reason[i] = "no subject_id or name"
        status = np.full(n, "clear", object)
        status[hit] = "hit"
        score = np.zeros(n)
        score[hit] = 1.0
        matches: list[list[dict[str, Any]]] = [_NO_MATCH] * n
        listed = self.listed
        canon = got.canonical
        matched: list[int] = np.flatnonzero(hit).tolist()
        listed.fetch_names([canon[i] for i in matched])  # type: ignore[misc]
        for i in matched:
            matches[i] = [listed.match(canon[i])]  # type: ignore[arg-type]
        for i in np.flatnonzero(~read_bad & ~id_given & named).tolist():
            q = _name_query(f, i)
            if isinstance(q, str):
                reason[i] = q
                continue
            found = self.names.match(q)
            if found:
                best = found[0].score
                score[i] = best
                status[i] = "hit" if best >= self.threshold else "possible_match"
                matches[i] = [_name_match(m, listed) for m in found]
                matched.append(i)
        scores: list[float | None] = [*score.tolist()]
        bad = _present(reason)
        status[bad] = "invalid"
        for i in np.flatnonzero(bad).tolist():
            scores[i] = None
            matches[i] = _NO_MATCH
        if self.action is not None:
            self._decide(matches, [i for i in matched if not bad[i]])
        return status.tolist(), scores, matches, reason

    def _decide(self, matches: list[list[dict[str, Any]]], rows: list[int]) -> None:
        """Every match's decision for the action, from one ``check_many`` over the chunk's matches."""
        flat = [(i, j) for i in rows for j in range(len(matches[i]))]
        if not flat:
            return
        assert self.action is not None
        queries = [(matches[i][j]["subject_id"], self.action) for i, j in flat]
        decisions = self.checker.check_many(queries, as_of=self.at)
        view = self.shape.decision
        for (i, j), d in zip(flat, decisions, strict=True):
            # The cached match is shared: the decision goes on a copy.
            matches[i][j] = {**matches[i][j], "decision": view(d)}


def screen_file(
    engine: Engine,
    catalogue: Catalogue,
    src: Path,
    out: Path,
    *,
    action: str | None = None,
    at: dt.datetime | None = None,
    threshold: float = HIT,
    fmt: str | None = None,
    encoding: str | None = None,
    checker: Checker | None = None,
    chunk_size: int = CHUNK,
    progress: Callable[[int], None] | None = None,
    done: Callable[[Summary], None] | None = None,
    shape: Shape | None = None,
    rows: Callable[[Chunk, Added], None] | None = None,
    public_only: bool = False,
) -> Summary:
    """Screen ``src`` into ``out`` (same format); raises ScreenInputError on bad input, UnknownAction.

    ``done`` runs once every row is written, before the output takes its name (the CLI's audit entry): if it
    raises, there is no output. ``rows`` sees every chunk with its added columns before ``shape`` cuts their
    matches (a saved screening's rows: what a later run re-scores and compares, whoever's view the file got);
    ``public_only`` screens against public categories' listings only (a screener's view)."""
    fmt = resolve_format(src, fmt)
    out_fmt = FORMATS.get(out.suffix.lower())
    if out_fmt is not None and out_fmt != fmt:
        raise ScreenInputError(f"{out}: the output is written as the input's format ({fmt}), not {out_fmt}")
    if not 0.0 < threshold <= 1.0:
        raise ScreenInputError(f"--threshold: {threshold}: expected a score in (0, 1]")
    at = dt.datetime.now(dt.UTC) if at is None else at
    if checker is None:
        old = at < dt.datetime.now(dt.UTC) - dt.timedelta(days=300)
        checker = Checker(engine, catalogue, history=None if old else dt.timedelta(days=366))
    if action is not None and action not in checker.rules.actions:
        raise UnknownAction(action)
    if at.timestamp() < checker.index.cutoff:
        raise ScreenInputError(f"--at: {at.isoformat()}: before the index's history; build it with all")
    reader, text_enc = open_reader(src, fmt, encoding)
    summary = Summary(src, out, fmt, digest(src), action, at, checker.catalogue_version)
    # The index and the listings are millions of long-lived objects without cycles: the cyclic collector
    # would rescan them on every full collection the chunks' rows trigger (seconds per 50,000 rows at 10^6
    # subjects), so they are frozen out of it for the run.
    gc.freeze()
    listed = Listed(checker, at.timestamp())
    if public_only:
        listed.keep_public(catalogue)
    gc.freeze()
    shape = Shape() if shape is None else shape
    screen = _Screen(checker, listed, action, at, threshold, shape)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer = open_writer(tmp, fmt, reader, text_enc)
        for c in reader.chunks(chunk_size):
            raw = screen.chunk(c)
            added = shape.rows(raw, listed)
            writer.write(c, added)
            if rows is not None:
                rows(c, raw)
            summary.rows += len(c)
            for status, k in Counter(added[0]).items():
                summary.counts[status] += k
            if progress is not None:
                progress(len(c))
        writer.close()
        if done is not None:
            done(summary)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
        gc.unfreeze()
    return summary
