"""Bulk inserts below SQLAlchemy's per-value processing: the import's hot path.

SQLAlchemy Core calls a Python bind processor for every value (``UTCDateTime`` among them), which costs more
than the database work at 10^6 rows. Here rows arrive as tuples already in storage form and go to the driver
directly, inside the caller's transaction: ``executemany`` on SQLite, ``COPY ... FROM STDIN`` on PostgreSQL.
Storage forms must equal what SQLAlchemy writes, so that reads and comparisons through SQLAlchemy agree:
datetimes are naive UTC (on SQLite the text ``YYYY-MM-DD HH:MM:SS.ffffff``), dates ISO text on SQLite.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .copybinary import HEADER, TRAILER

if TYPE_CHECKING:  # the import's worker processes use the converters without loading SQLAlchemy
    from sqlalchemy import Connection, Table

__all__ = [
    "bulk_insert",
    "copy_binary",
    "date_converter",
    "datetime_converter",
    "pg_dt",
    "sqlite_date",
    "sqlite_dt",
    "sqlite_executemany",
]


def pg_dt(v: dt.datetime | None) -> dt.datetime | None:
    if v is None:
        return None
    if v.tzinfo is not dt.UTC:
        v = v.astimezone(dt.UTC)
    return v.replace(tzinfo=None)


def sqlite_dt(v: dt.datetime | None) -> str | None:
    if v is None:
        return None
    if v.tzinfo is not dt.UTC:
        v = v.astimezone(dt.UTC)
    return v.replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_date(v: dt.date | None) -> str | None:
    return None if v is None else v.isoformat()


def _same(v: Any) -> Any:
    return v


def datetime_converter(conn: Connection) -> Callable[[dt.datetime | None], Any]:
    """Aware datetime -> the value this dialect's driver stores for a ``UTCDateTime`` column."""
    return sqlite_dt if conn.dialect.name == "sqlite" else pg_dt


def date_converter(conn: Connection) -> Callable[[dt.date | None], Any]:
    return sqlite_date if conn.dialect.name == "sqlite" else _same


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order, values already converted) in the current transaction."""
    if not rows:
        return
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        if not conn.in_transaction():
            conn.begin()
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
        return
    marks = ", ".join("?" * len(columns))
    sqlite_executemany(conn, f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)


def sqlite_executemany(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """``sql`` once per row on SQLite's driver cursor, in the current transaction (values already converted)."""
    if not conn.in_transaction():
        conn.begin()
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.executemany(sql, rows)
    finally:
        cur.close()


def copy_binary(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[bytes]) -> None:
    """PostgreSQL: ``rows`` (each a row in binary COPY's format, values in ``columns`` order) into ``table`` in
    the current transaction, in one write (see :mod:`.copybinary`)."""
    if not rows:
        return
    if not conn.in_transaction():
        conn.begin()
    raw: Any = conn.connection.driver_connection
    sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    with raw.cursor() as cur, cur.copy(sql) as copy:
        copy.write(b"".join([HEADER, *rows, TRAILER]))
