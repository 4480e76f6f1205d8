"""PostgreSQL imports: one batch's COPYs run while the next batch is built.

Writing a batch is three steps: look up which of its keys and subjects exist (quick queries), build its COPY
texts (Python, on this process's CPU) and COPY them (PostgreSQL's CPU, while this process waits). Done in turn
for each batch, PostgreSQL, the import's slowest part, idled while Python built texts. Here the COPYs of batch
N run on a helper thread while this thread builds batch N+1, so PostgreSQL works without pause.

That order needs batch N+1's lookups made before batch N's COPYs, on the one connection (one transaction):

* records: an import's keys are distinct (the importer refuses a key repeated in a file), so batch N+1's keys
  are never among batch N's rows, and looking them up early gives the same answer;
* subjects: batch N+1 may name a subject new in batch N; the lookup does not see it yet, so the subjects of
  the COPY in flight are kept aside and not inserted twice;
* ids and sequence numbers are counted here from the registry's maxima, read once under the write lock.

A batch that amends records, rare in an import, waits for the COPYs in flight and is written the plain way
(:func:`.writer.write_prepared`). The connection is used by one thread at a time: the helper between its start
and :meth:`CopyPipeline._wait`, this thread otherwise.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Collection, Sequence

from sqlalchemy import Connection

from ..catalogue import Catalogue
from .prepared import Prepared
from .rows import Filing
from .writer import (
    Conflict,
    _first_subjects,
    _next_ids,
    copy_texts,
    existing_records,
    known_subjects,
    send_copies,
    write_lock,
    write_prepared,
)

__all__ = ["CopyPipeline"]

Texts = tuple[str, str, str, str]


class CopyPipeline:
    """``write(batch)`` files a batch of new records, as :func:`.writer.write_prepared` would, leaving its COPYs
    to run during the next call; :meth:`finish` sends the last. Call both from one thread."""

    def __init__(
        self,
        conn: Connection,
        catalogue: Catalogue,
        actor: str,
        now: dt.datetime,
        filing_of: Callable[[Prepared], Filing],
        analyze_after: Collection[int] = (),
    ) -> None:
        self.conn, self.catalogue, self.actor, self.now, self.filing_of = (
            conn,
            catalogue,
            actor,
            now,
            filing_of,
        )
        self.analyze_after = analyze_after
        self.helper: threading.Thread | None = None
        self.failure: BaseException | None = None
        self.pending: Texts | None = None  # built, not yet sent
        self.pending_subjects: set[str] = set()  # the subjects in ``pending``
        self.flying_subjects: set[str] = set()  # the subjects of the COPYs on the helper thread
        self.ids: tuple[int, int] | None = None  # the next record id and sequence number
        self.sent = 0  # batches whose COPYs were started

    def write(self, items: Sequence[Prepared]) -> list[tuple[int, str, int | None]]:
        keys = [(p[0], p[1]) for p in items]
        if len(set(keys)) != len(keys):
            raise Conflict("the same (authority, external_id) appears twice in one batch")
        self._wait()  # the connection is ours until _send
        conn = self.conn
        write_lock(conn)
        existing = existing_records(conn, keys)
        if any(existing.get(k, (0, p[2]))[1] != p[2] for k, p in zip(keys, items, strict=True)):
            return self._plain(items)
        wanted = {sid: line for sid, (_, line) in _first_subjects(items).items()}
        for sid in known_subjects(conn, list(wanted)):
            del wanted[sid]
        if self.ids is None:
            self.ids = _next_ids(conn)
        self._send()
        # Built while PostgreSQL copies the previous batch:
        for sid in self.flying_subjects.intersection(wanted):
            del wanted[sid]
        next_id, seq0 = self.ids
        out: list[tuple[int, str, int | None]] = []
        new: list[tuple[Prepared, int]] = []
        for p, key in zip(items, keys, strict=True):
            hit = existing.get(key)
            if hit is None:
                new.append((p, next_id))
                out.append((next_id, "filed", seq0 + len(new) - 1))
                next_id += 1
            else:
                out.append((hit[0], "unchanged", None))
        self.ids = (next_id, seq0 + len(new))
        self.pending = copy_texts(wanted.values(), new, seq0, self.actor, self.now)
        self.pending_subjects = set(wanted)
        return out

    def finish(self) -> None:
        """Send what is built and wait for every COPY: the batches written are then in the transaction."""
        self._wait()
        if self.pending is not None:
            self._send()
            self._wait()

    def abandon(self) -> None:
        """Wait for the helper and drop what is built (the transaction is being rolled back)."""
        if self.helper is not None:
            self.helper.join()
            self.helper = None
        self.pending, self.failure = None, None

    def _plain(self, items: Sequence[Prepared]) -> list[tuple[int, str, int | None]]:
        """A batch with amendments: everything before it sent, then written the plain way."""
        self._send()
        self._wait()
        self.ids = None  # read again: write_prepared allocates its own
        return write_prepared(self.conn, items, self.catalogue, self.actor, self.now, self.filing_of)

    def _send(self) -> None:
        """Start the built batch's COPYs on the helper thread (the connection is the helper's until _wait)."""
        texts, self.pending = self.pending, None
        self.flying_subjects, self.pending_subjects = self.pending_subjects, set()
        if texts is None:
            return
        self.sent += 1
        analyze = self.sent in self.analyze_after

        def run() -> None:
            try:
                send_copies(self.conn, texts)
                if analyze:
                    # Statistics from before a large import make PostgreSQL's planner think the tables are
                    # tiny, and it then filters key lookups instead of probing the index: refresh them as the
                    # tables grow (ANALYZE counts this transaction's own rows).
                    self.conn.exec_driver_sql("ANALYZE records, subjects")
            except BaseException as exc:  # raised on this pipeline's thread by _wait
                self.failure = exc

        self.helper = threading.Thread(target=run, name="import-copy", daemon=True)
        self.helper.start()

    def _wait(self) -> None:
        if self.helper is not None:
            self.helper.join()
            self.helper = None
        self.flying_subjects = set()
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure
