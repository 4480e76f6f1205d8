"""What each audience sees of a screening over HTTP (decision 0910): the views of api/views.py, per row.

* **checkpoint**: per row only the decision for its action. A match is kept only when the decision has an
  effect (a plain "allowed" is what a clear subject gets too, so it says nothing); a kept match shows the
  subject (the identifier the row gave, or masked when found by name), the score, and the decision in the
  checkpoint's form (decision 0301): never a record id, category, linked subject or note. A row whose
  matches all fall away is ``clear``.
* **registrar**: its own authority's listings whole; other authorities' only through a decision with an
  effect, in the checkpoint's form (decision 0310).
* **screener**: the public's view (decisions 0302, 0906): a match is kept only if the public sees its subject
  listed now (public categories, in force, published), with the identifier masked and the public record
  fields; the row's status follows from what is kept.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..engine import Decision
from ..engine.index import as_tuple
from ..identifiers import mask
from ..screening.by_id import Listed
from ..screening.run import Shape
from ..screening.writers import Added
from .routers.public import listed_subjects
from .state import AppState
from .views import checkpoint_reason, registrar_decision

__all__ = ["CheckpointShape", "RegistrarShape", "ScreenerShape", "shape_for"]

_NAME_FIELDS = ("name", "kind", "explanation")


def _effective(decision: dict[str, Any] | None) -> bool:
    return decision is not None and (not decision["allowed"] or bool(decision["effects"]))


def _rows(added: Added, keep: Any, threshold: float) -> Added:
    """``added`` with each row's matches passed through ``keep`` (a match -> its view, or None to drop it),
    the status and score following from what is kept."""
    status, score, matches, reason = added
    out_status, out_score, out_matches = list(status), list(score), list(matches)
    for i, ms in enumerate(matches):
        if not ms:
            continue
        kept = [v for v in (keep(m) for m in ms) if v is not None]
        out_matches[i] = kept
        if not kept:
            out_status[i], out_score[i] = "clear", 0.0
            continue
        best = max(float(v["score"]) for v in kept)
        out_score[i] = best
        by_id = any(v["matched_by"] == "subject_id" for v in kept)
        out_status[i] = "hit" if by_id or best >= threshold else "possible_match"
    return out_status, out_score, out_matches, reason


class CheckpointShape(Shape):
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def decision(self, d: Decision) -> dict[str, Any]:
        return {
            "action": d.action,
            "as_of": d.as_of.astimezone(dt.UTC).isoformat(),
            "allowed": d.allowed,
            "effects": list(d.effects),
            "reasons": [checkpoint_reason(r) for r in d.reasons],
            "catalogue_version": d.catalogue_version,
        }

    def rows(self, added: Added, listed: Listed) -> Added:
        def keep(m: dict[str, Any]) -> dict[str, Any] | None:
            if not _effective(m.get("decision")):
                return None
            by_name = m["matched_by"] == "name"
            view = {
                "subject_id": mask(m["subject_id"]) if by_name else m["subject_id"],
                "score": m["score"],
                "matched_by": m["matched_by"],
                "decision": m["decision"],
            }
            if by_name:
                view.update({k: m.get(k) for k in _NAME_FIELDS})
            return view

        return _rows(added, keep, self.threshold)


class RegistrarShape(Shape):
    def __init__(self, authority: str | None, threshold: float) -> None:
        self.authority = authority
        self.threshold = threshold

    def decision(self, d: Decision) -> dict[str, Any]:
        out = registrar_decision(d, self.authority, None)
        out.pop("reference", None)
        return out

    def rows(self, added: Added, listed: Listed) -> Added:
        def keep(m: dict[str, Any]) -> dict[str, Any] | None:
            sid = m["subject_id"]
            mine = {
                e.record_id for e in as_tuple(listed.entries.get(sid, ())) if e.authority == self.authority
            }
            own = [r for r in m.get("reasons", []) if r["record_id"] in mine]
            if not own and not _effective(m.get("decision")):
                return None
            view = {k: v for k, v in m.items() if k != "reasons"}
            view["reasons"] = own
            return view

        return _rows(added, keep, self.threshold)


class ScreenerShape(Shape):
    """Public listings only, as the public sees them: confirmed against the database a chunk at a time."""

    def __init__(self, state: AppState, threshold: float) -> None:
        self.state = state
        self.threshold = threshold

    def rows(self, added: Added, listed: Listed) -> Added:
        ids = sorted({m["subject_id"] for ms in added[2] for m in ms})
        with self.state.db.engine.connect() as conn:
            public = listed_subjects(conn, self.state, ids, dt.datetime.now(dt.UTC))

        def keep(m: dict[str, Any]) -> dict[str, Any] | None:
            shown = public.get(m["subject_id"])
            if shown is None:
                return None
            view = {
                "subject_id": shown["id"],  # masked as the public sees it
                "name": shown["name"],
                "kind": shown["kind"],
                "score": m["score"],
                "matched_by": m["matched_by"],
                "records": shown["records"],
            }
            if m["matched_by"] == "name":
                view["explanation"] = m.get("explanation")
            return view

        return _rows(added, keep, self.threshold)


def shape_for(state: AppState, role: str, authority: str | None, threshold: float) -> Shape:
    if role == "checkpoint":
        return CheckpointShape(threshold)
    if role == "registrar":
        return RegistrarShape(authority, threshold)
    if role == "screener":
        return ScreenerShape(state, threshold)
    raise ValueError(f"no screening view for role {role!r}")
