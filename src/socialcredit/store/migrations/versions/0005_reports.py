"""reports: issued credit reports (number, subject, time, signing key, digest, signed content)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("report_no", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("pages_digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("report_no", name=op.f("pk_reports")),
    )
    op.create_index("ix_reports_subject_id", "reports", ["subject_id"])


def downgrade() -> None:
    op.drop_index("ix_reports_subject_id", table_name="reports")
    op.drop_table("reports")
