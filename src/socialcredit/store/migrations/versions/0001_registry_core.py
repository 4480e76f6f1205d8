"""registry core: subjects, record events, records, outbox

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "outbox",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("subject_ids", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_seq", name=op.f("uq_outbox_event_seq")),
    )
    op.create_table(
        "record_events",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_record_events")),
    )
    with op.batch_alter_table("record_events", schema=None) as batch_op:
        batch_op.create_index("ix_record_events_record_id_seq", ["record_id", "seq"], unique=False)

    op.create_table(
        "records",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("authority", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=120), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("subject_name", sa.String(length=300), nullable=False),
        sa.Column("decision_no", sa.String(length=200), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("effective_from", sa.DateTime(), nullable=False),
        sa.Column("effective_until", sa.DateTime(), nullable=True),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("legal_representative_id", sa.String(length=64), nullable=True),
        sa.Column("legal_representative_name", sa.String(length=300), nullable=True),
        sa.Column("actual_controller_id", sa.String(length=64), nullable=True),
        sa.Column("actual_controller_name", sa.String(length=300), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("applies_from", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("suspensions", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("filed_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records")),
        sa.UniqueConstraint("authority", "external_id", name=op.f("uq_records_authority_external_id")),
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.create_index("ix_records_actual_controller_id", ["actual_controller_id"], unique=False)
        batch_op.create_index("ix_records_legal_representative_id", ["legal_representative_id"], unique=False)
        batch_op.create_index("ix_records_subject_id", ["subject_id"], unique=False)

    op.create_table(
        "subjects",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("allowlisted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subjects")),
    )


def downgrade() -> None:

    op.drop_table("subjects")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index("ix_records_subject_id")
        batch_op.drop_index("ix_records_legal_representative_id")
        batch_op.drop_index("ix_records_actual_controller_id")

    op.drop_table("records")
    with op.batch_alter_table("record_events", schema=None) as batch_op:
        batch_op.drop_index("ix_record_events_record_id_seq")

    op.drop_table("record_events")
    op.drop_table("outbox")
