"""process and feed: objections, repair requests, subscriptions, deliveries, watchlists, monitor

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("outbox_seq", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("dead_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint(
            "subscription_id", "outbox_seq", name=op.f("uq_deliveries_subscription_id_outbox_seq")
        ),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "feed_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_feed_cursors")),
    )
    op.create_table(
        "monitor_hits",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "subject_id", "record_id", name=op.f("pk_monitor_hits")),
    )
    op.create_table(
        "monitor_runs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("watchlist_id", sa.String(length=32), nullable=False),
        sa.Column("ran_at", sa.DateTime(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("new_hits", sa.Integer(), nullable=False),
        sa.Column("lifted_hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_runs")),
    )
    with op.batch_alter_table("monitor_runs", schema=None) as batch_op:
        batch_op.create_index("ix_monitor_runs_watchlist_id", ["watchlist_id", "id"], unique=False)

    op.create_table(
        "objections",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("authority", sa.String(length=64), nullable=False),
        sa.Column("filed_by", sa.String(length=64), nullable=False),
        sa.Column("counsel", sa.String(length=300), nullable=True),
        sa.Column("grounds", sa.Text(), nullable=False),
        sa.Column("filed_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("suspends", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("remedy", sa.String(length=16), nullable=True),
        sa.Column("correction", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objections")),
    )
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.create_index("ix_objections_record_id", ["record_id"], unique=False)
        batch_op.create_index("ix_objections_status_due", ["status", "due_at"], unique=False)

    op.create_table(
        "repair_requests",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("filed_by", sa.String(length=64), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("commitment", sa.Text(), nullable=False),
        sa.Column("filed_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_requests")),
    )
    with op.batch_alter_table("repair_requests", schema=None) as batch_op:
        batch_op.create_index("ix_repair_requests_record_id", ["record_id"], unique=False)

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("watchlist_id", sa.String(length=32), nullable=True),
        sa.Column("types", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    op.create_table(
        "watchlist_members",
        sa.Column("watchlist_id", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("watchlist_id", "subject_id", name=op.f("pk_watchlist_members")),
    )
    with op.batch_alter_table("watchlist_members", schema=None) as batch_op:
        batch_op.create_index("ix_watchlist_members_subject_id", ["subject_id"], unique=False)

    op.create_table(
        "watchlists",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlists")),
    )


def downgrade() -> None:
    op.drop_table("watchlists")
    with op.batch_alter_table("watchlist_members", schema=None) as batch_op:
        batch_op.drop_index("ix_watchlist_members_subject_id")

    op.drop_table("watchlist_members")
    op.drop_table("subscriptions")
    with op.batch_alter_table("repair_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_repair_requests_record_id")

    op.drop_table("repair_requests")
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.drop_index("ix_objections_status_due")
        batch_op.drop_index("ix_objections_record_id")

    op.drop_table("objections")
    with op.batch_alter_table("monitor_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_monitor_runs_watchlist_id")

    op.drop_table("monitor_runs")
    op.drop_table("monitor_hits")
    op.drop_table("feed_cursors")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_due")

    op.drop_table("deliveries")
