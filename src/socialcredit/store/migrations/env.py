"""Alembic environment: runs on the connection handed in by ``socialcredit.store.upgrade``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from socialcredit.store import tables  # noqa: F401  (registers every table)
from socialcredit.store.schema import metadata

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    from socialcredit.store.database import connect

    with connect().begin() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
