"""Request and response schemas, one family per entity; each class says in one line what it is for.

Request bodies forbid unknown fields (a misspelt field is a 422 naming it, never silently ignored) and bound
every string, so no input is larger than the store accepts. Every text field is :data:`.inputs.PlainText` (no
control characters) or, for prose, :data:`.inputs.FreeText` (tab and newline allowed). Responses are
documented here so that /openapi.json says exactly what each audience receives.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .inputs import FreeText, PlainText

__all__ = [
    "MAX_BATCH",
    "AuditPage",
    "AuditRow",
    "BatchAnswer",
    "BatchCheck",
    "CheckQuery",
    "CheckpointDecision",
    "CheckpointReason",
    "FullDecision",
    "FullReason",
    "KeyCreate",
    "KeyCreated",
    "KeyOut",
    "Problem",
    "PublicHit",
    "PublicRecord",
    "PublicSearchPage",
    "RecordAmend",
    "RecordCreate",
    "RecordOut",
    "RecordWritten",
    "RevokeBody",
    "SubjectOut",
    "VerifyOut",
]

MAX_BATCH = 10_000
_Text = Field(default=None, max_length=4000)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- records ------------------------------------------------------------------------------------------


class RecordCreate(_In):
    """One import row (DESIGN.md section 3) filed by a registrar, checked against the catalogue."""

    external_id: PlainText = Field(
        max_length=200, description="The authority's own reference; with authority, the key."
    )
    authority: PlainText = Field(max_length=64, description="Must be the key's own authority.")
    category: PlainText = Field(max_length=120)
    subject_id: PlainText = Field(max_length=64, examples=["110105198001010115"])
    subject_name: PlainText = Field(max_length=300)
    decision_no: PlainText = Field(max_length=200)
    decided_on: PlainText = Field(max_length=10, description="YYYY-MM-DD", examples=["2025-06-01"])
    effective_from: PlainText | None = Field(default=None, max_length=10)
    effective_until: PlainText | None = Field(default=None, max_length=10)
    legal_basis: FreeText | None = _Text
    summary: FreeText | None = _Text
    legal_representative_id: PlainText | None = Field(default=None, max_length=64)
    legal_representative_name: PlainText | None = Field(default=None, max_length=300)
    actual_controller_id: PlainText | None = Field(default=None, max_length=64)
    actual_controller_name: PlainText | None = Field(default=None, max_length=300)


class RecordAmend(_In):
    """The fields of a record to change; the key fields (authority, external_id, subject, category) cannot."""

    subject_name: PlainText | None = Field(default=None, max_length=300)
    decision_no: PlainText | None = Field(default=None, max_length=200)
    decided_on: PlainText | None = Field(default=None, max_length=10)
    effective_from: PlainText | None = Field(default=None, max_length=10)
    effective_until: PlainText | None = Field(default=None, max_length=10)
    legal_basis: FreeText | None = _Text
    summary: FreeText | None = _Text
    legal_representative_id: PlainText | None = Field(default=None, max_length=64)
    legal_representative_name: PlainText | None = Field(default=None, max_length=300)
    actual_controller_id: PlainText | None = Field(default=None, max_length=64)
    actual_controller_name: PlainText | None = Field(default=None, max_length=300)


class RevokeBody(_In):
    """Why a record is revoked; kept in the event log."""

    reason: FreeText = Field(min_length=1, max_length=2000)


class RecordOut(BaseModel):
    """A record as its registrar or its subject sees it: the whole file entry and its status now."""

    id: int
    authority: str
    external_id: str
    category: str
    subject_id: str
    subject_name: str
    decision_no: str
    decided_on: str
    effective_from: str
    effective_until: str | None
    legal_basis: str
    summary: str
    legal_representative_id: str | None
    legal_representative_name: str | None
    actual_controller_id: str | None
    actual_controller_name: str | None
    status: str = Field(description="Lifecycle: filed, revoked, repaired, fulfilled, expired.")
    display_status: str = Field(
        description="Now: pending, notified, in_force, suspended, expired, revoked, ..."
    )
    applies_from: str
    valid_until: str | None
    ended_at: str | None
    filed_at: str


class RecordWritten(RecordOut):
    """A record after a write, with what the write did."""

    outcome: Literal["filed", "amended", "unchanged", "revoked"]


# --- checks -------------------------------------------------------------------------------------------


class CheckQuery(_In):
    """One check: may this subject do this action (at this instant, as known then)?"""

    # Plain str, not PlainText, in the check bodies: they are parsed on the hot path, and each field is read by
    # a parser that refuses control characters anyway (identifier, catalogue action, instant).
    subject: str = Field(max_length=64, examples=["110105198001010115"])
    action: str = Field(max_length=120, examples=["transport.air.ticket"])
    at: str | None = Field(default=None, max_length=40, description="ISO 8601 instant; default now.")
    known_at: str | None = Field(
        default=None, max_length=40, description="Registrar only: as the registry knew."
    )


class BatchItem(_In):
    """One subject and action of a batch."""

    subject: str = Field(max_length=64)
    action: str = Field(max_length=120)


class BatchCheck(_In):
    """Up to 10,000 checks answered at one instant."""

    queries: list[BatchItem] = Field(max_length=MAX_BATCH)
    at: str | None = Field(default=None, max_length=40)
    known_at: str | None = Field(default=None, max_length=40)


class GradeBehind(BaseModel):
    """The grade that meets a grade-conditioned measure (decision 1003)."""

    model: str
    grade: str


class CheckpointReason(BaseModel):
    """Why a measure applies, as a checkpoint may know it: no record, decision number, summary or identity."""

    memorandum: str
    measure: str
    department: str
    effect: str
    legal_basis: str
    valid_until: str | None
    grade: GradeBehind | None = Field(
        default=None,
        description="For a measure conditioned on a grade: the model and the subject's grade "
        "that meets it; then valid_until is null (the grade holds until the records behind it change).",
    )


class CheckpointDecision(BaseModel):
    """The decision a checkpoint receives (data minimisation: the decision, never the file)."""

    subject: str
    action: str
    as_of: str
    allowed: bool
    effects: list[str]
    reasons: list[CheckpointReason]
    catalogue_version: str
    reference: int | None = Field(default=None, description="Audit sequence number, to quote in an appeal.")


class FullReason(CheckpointReason):
    """A reason as a registrar sees it, with the record behind it."""

    record_id: int
    category: str
    via: str
    via_subject: str | None
    withheld: bool


class FullDecision(BaseModel):
    """The whole Decision (DESIGN.md section 3), for registrars: reasons from the key's own authority's
    records as FullReason, reasons from other authorities' records as a checkpoint sees them."""

    subject: str
    known: bool
    action: str
    as_of: str
    allowed: bool
    effects: list[str]
    reasons: list[FullReason | CheckpointReason]
    catalogue_version: str
    notes: list[str]
    reference: int | None = None


class BatchAnswer(BaseModel):
    """Decisions in the order of the queries."""

    count: int
    reference: int | None
    decisions: list[CheckpointDecision] | list[FullDecision]


# --- subjects and public ------------------------------------------------------------------------------


class FileKey(BaseModel):
    """A key that opens a subject's file, as its subject sees it (never a token)."""

    id: str
    label: str
    issued_at: str
    issued_by: str | None = Field(description="The issuing key's id, or cli; null if not in the audit log.")
    expires_at: str | None
    revoked_at: str | None
    status: str


class SubjectOut(BaseModel):
    """A subject and the records this key may see about it (its own file for a subject key)."""

    id: str
    kind: str
    name: str
    region: str | None
    records: list[RecordOut]
    keys: list[FileKey] | None = Field(
        default=None, description="Subject key only: every key to this file, when and by whom it was issued."
    )


class PublicRecord(BaseModel):
    """What is published about one record in force (SPC provisions art. 6), from a public category only."""

    category: str
    category_title: str
    list: str
    authority: str
    decision_no: str
    decided_on: str
    legal_representative_name: str | None
    valid_until: str | None


class PublicHit(BaseModel):
    """A listed subject as the public sees it: name and masked identifier."""

    name: str
    id: str = Field(description="Masked: a person's birth date and sequence are hidden.")
    kind: str
    records: list[PublicRecord]


class PublicSearchPage(BaseModel):
    """One page of public search results."""

    q: str
    page: int
    page_size: int
    has_more: bool
    results: list[PublicHit]


# --- audit and keys -----------------------------------------------------------------------------------


class AuditRow(BaseModel):
    """One audit log entry with its chain hashes."""

    seq: int
    at: str
    actor: str
    role: str
    action: str
    target: str
    purpose: str | None
    outcome: str
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    """Entries oldest first; pass ``next_after`` as ``after`` for the next page."""

    entries: list[AuditRow]
    next_after: int | None


class VerifyOut(BaseModel):
    """The chain check: ok, or the first sequence number that does not hold and why."""

    ok: bool
    checked: int
    head_hash: str
    first_bad_seq: int | None
    reason: str | None


class KeyCreate(_In):
    """A new API key: one role and that role's scope."""

    role: Literal["registrar", "checkpoint", "subject", "auditor", "admin"]
    authority: PlainText | None = Field(default=None, max_length=64)
    actions: list[PlainText] = Field(default_factory=list, max_length=100)
    subject: PlainText | None = Field(default=None, max_length=64)
    expires_in: PlainText | None = Field(
        default=None, max_length=8, description="12h, 90d or 4w", examples=["90d"]
    )
    label: PlainText = Field(default="", max_length=200)


class KeyOut(BaseModel):
    """A key as listed: never its token."""

    id: str
    role: str
    authority: str | None
    actions: list[str]
    subject: str | None
    label: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    status: str


class KeyCreated(KeyOut):
    """A key just created, with its token: shown this once."""

    token: str


class Problem(BaseModel):
    """RFC 9457 problem details; ``errors`` lists each bad field's path, value and reason."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None
