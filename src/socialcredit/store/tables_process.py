"""Due-process tables: objections (and reconsiderations) and credit-repair requests."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text

from .schema import UTCDateTime, metadata

__all__ = ["objections", "repair_requests"]

# An objection to a record, or (stage "reconsideration") a request that the parent authority reconsider a
# rejected one (``parent_id``). ``authority`` is who decides; ``due_at`` when the decision is due.
objections = Table(
    "objections",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("record_id", BigInteger, nullable=False),
    Column("stage", String(16), nullable=False),  # objection | reconsideration
    Column("parent_id", BigInteger),
    Column("authority", String(64), nullable=False),
    Column("filed_by", String(64), nullable=False),  # key id or "cli"
    Column("counsel", String(300)),  # the counsel filing for the subject, if any
    Column("grounds", Text, nullable=False),
    Column("filed_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("suspends", Boolean, nullable=False),  # measures suspended while pending
    Column("status", String(16), nullable=False),  # pending | upheld | rejected
    Column("remedy", String(16)),  # upheld: corrected | revoked
    Column("correction", Text),  # upheld by correction: JSON of the fields changed
    Column("decided_at", UTCDateTime),
    Column("decided_by", String(64)),
    Column("decision_reason", Text),
    Index("ix_objections_record_id", "record_id"),
    Index("ix_objections_status_due", "status", "due_at"),
)

repair_requests = Table(
    "repair_requests",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("record_id", BigInteger, nullable=False),
    Column("filed_by", String(64), nullable=False),
    Column("evidence", Text, nullable=False),  # how the conduct was corrected and obligations performed
    Column("commitment", Text, nullable=False),  # the public credit commitment
    Column("filed_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | rejected
    Column("decided_at", UTCDateTime),
    Column("decided_by", String(64)),
    Column("decision_reason", Text),
    Index("ix_repair_requests_record_id", "record_id"),
)
