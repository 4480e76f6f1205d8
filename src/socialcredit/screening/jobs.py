"""Screening jobs (``POST /v1/screenings``): a row per upload in ``screenings``, run on one background thread.

A job's row is the truth its key reads (``GET /v1/screenings/{id}``), so progress and results survive the
process that ran them and any worker of the server answers. One thread per process runs the jobs in order;
a key may have at most ``MAX_ACTIVE`` jobs queued or running, so one key cannot fill the disk or the queue.
A job the thread did not finish (the process stopped) is reported ``failed`` once its row has not moved for
``STALE`` (the thread updates it every chunk). The upload is deleted when the run ends, whatever the outcome;
only its digest stays (decision 0910).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import queue
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select, update

from ..catalogue import Catalogue
from ..engine import UnknownAction
from ..store.tables import screenings
from .files import Chunk, ScreenInputError
from .run import Shape, Summary, screen_file
from .writers import Added

__all__ = ["CHUNK", "MAX_ACTIVE", "STALE", "Job", "Jobs", "new_id"]

log = logging.getLogger("socialcredit.screening")
CHUNK = 5_000  # rows per chunk over HTTP: progress moves at least this often
MAX_ACTIVE = 2  # jobs queued or running per key
STALE = dt.timedelta(minutes=30)  # a running job whose row has not moved this long was lost with its process
EXTENSIONS = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet", "xlsx": ".xlsx"}


_Hook = Callable[[Any], None]
_Rows = Callable[[Chunk, Added], None]
_STOPPED = "the server stopped during the run; upload the file again"


class _Stopped(Exception):
    """The server is stopping: the running job ends at its next chunk."""


def new_id() -> str:
    return secrets.token_hex(12)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Job:
    id: str
    key_id: str
    role: str
    format: str
    action: str | None
    threshold: float
    status: str
    bytes: int
    sha256: str
    rows_total: int | None
    rows_done: int
    counts: dict[str, int]
    error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "format": self.format,
            "action": self.action,
            "threshold": self.threshold,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "rows_total": self.rows_total,
            "rows_done": self.rows_done,
            "counts": self.counts,
            "error": self.error,
            "created_at": self.created_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
            "result": f"/v1/screenings/{self.id}/result" if self.status == "done" else None,
        }


def _job(row: Any) -> Job:
    status, error = row.status, row.error
    if status in ("queued", "running") and _now() - row.updated_at > STALE:
        status, error = "failed", _STOPPED
    return Job(
        row.id,
        row.key_id,
        row.role,
        row.format,
        row.action,
        row.threshold,
        status,
        row.bytes,
        row.sha256,
        row.rows_total,
        row.rows_done,
        json.loads(row.counts),
        error,
        row.created_at,
        row.updated_at,
        row.finished_at,
    )


class Jobs:
    """The jobs of one database, their files under ``directory``, and the thread that runs them."""

    def __init__(self, engine: Engine, catalogue: Catalogue, directory: Path) -> None:
        self.engine = engine
        self.catalogue = catalogue
        self.directory = directory
        self._q: queue.SimpleQueue[tuple[Job, Shape, _Hook, _Hook, _Rows | None, bool] | None] = (
            queue.SimpleQueue()
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._uploading: dict[str, int] = {}  # key id -> uploads being received (not jobs yet)

    def upload_path(self, job_id: str, fmt: str) -> Path:
        return self.directory / f"{job_id}.in{EXTENSIONS[fmt]}"

    def result_path(self, job: Job) -> Path:
        return self.directory / f"{job.id}.out{EXTENSIONS[job.format]}"

    def active(self, key_id: str) -> int:
        """Jobs of ``key_id`` queued or running (lost ones excepted)."""
        since = _now() - STALE
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(screenings)
                    .where(
                        screenings.c.key_id == key_id,
                        screenings.c.status.in_(("queued", "running")),
                        screenings.c.updated_at > since,
                    )
                ).scalar_one()
            )

    def reserve(self, key_id: str) -> bool:
        """Claim one of the key's ``MAX_ACTIVE`` places for an upload about to be received (its jobs queued
        or running, and its uploads in flight, count): False if none is free. ``release`` once the upload is
        a job or refused."""
        active = self.active(key_id)
        with self._lock:
            if active + self._uploading.get(key_id, 0) >= MAX_ACTIVE:
                return False
            self._uploading[key_id] = self._uploading.get(key_id, 0) + 1
            return True

    def release(self, key_id: str) -> None:
        with self._lock:
            left = self._uploading.get(key_id, 0) - 1
            if left > 0:
                self._uploading[key_id] = left
            else:
                self._uploading.pop(key_id, None)

    def get(self, job_id: str, key_id: str) -> Job | None:
        """The job, if ``key_id`` uploaded it; None otherwise (another key's job is as absent as none)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(screenings).where(screenings.c.id == job_id, screenings.c.key_id == key_id)
            ).first()
        return None if row is None else _job(row)

    def create(
        self,
        job_id: str,
        key_id: str,
        role: str,
        fmt: str,
        action: str | None,
        threshold: float,
        size: int,
        sha256: str,
        rows_total: int | None,
    ) -> Job:
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(
                insert(screenings).values(
                    id=job_id,
                    key_id=key_id,
                    role=role,
                    format=fmt,
                    action=action,
                    threshold=threshold,
                    status="queued",
                    bytes=size,
                    sha256=sha256,
                    rows_total=rows_total,
                    rows_done=0,
                    counts="{}",
                    error=None,
                    created_at=now,
                    updated_at=now,
                    finished_at=None,
                )
            )
        job = self.get(job_id, key_id)
        assert job is not None
        return job

    def _set(self, job_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(screenings).where(screenings.c.id == job_id).values(updated_at=_now(), **values)
            )

    def submit(
        self,
        job: Job,
        shape: Shape,
        audit: Callable[[Summary], None],
        failed: Callable[[str], None],
        rows: _Rows | None = None,
        public_only: bool = False,
    ) -> None:
        """Run ``job`` on the thread: ``audit`` is called once every row is written (if it raises, there is
        no result), ``failed`` with the reason when the run stops on bad input or an error; ``rows`` and
        ``public_only`` as for ``screen_file`` (a screening being saved)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="screening", daemon=True)
                self._thread.start()
        self._q.put((job, shape, audit, failed, rows, public_only))

    def _loop(self) -> None:
        while (item := self._q.get()) is not None:
            job, shape, audit, failed, rows, public_only = item
            if self._stop.is_set():
                self._fail(job, _STOPPED, failed)
                self.upload_path(job.id, job.format).unlink(missing_ok=True)
                continue
            self._run(job, shape, audit, failed, rows, public_only)

    def _run(
        self,
        job: Job,
        shape: Shape,
        audit: Callable[[Summary], None],
        failed: Callable[[str], None],
        rows: _Rows | None,
        public_only: bool,
    ) -> None:
        src = self.upload_path(job.id, job.format)
        out = self.result_path(job)
        done = {"rows": 0}

        def progress(n: int) -> None:
            if self._stop.is_set():
                raise _Stopped
            done["rows"] += n
            self._set(job.id, rows_done=done["rows"])

        # screen_file freezes the collector for its run and unfreezes it at the end; a server that froze its
        # index at startup (``serve``) gets that back afterwards, or its full collections would rescan it.
        frozen = gc.get_freeze_count() > 0
        try:
            self._set(job.id, status="running")
            summary = screen_file(
                self.engine,
                self.catalogue,
                src,
                out,
                action=job.action,
                threshold=job.threshold,
                fmt=job.format,
                chunk_size=CHUNK,
                progress=progress,
                done=audit,
                shape=shape,
                rows=rows,
                public_only=public_only,
            )
        except _Stopped:
            self._fail(job, _STOPPED, failed)
        except (ScreenInputError, UnknownAction) as exc:
            reason = str(exc).replace(str(src), "upload")[:500]
            self._fail(job, reason, failed)
        except Exception as exc:  # the job fails, the thread goes on; the log has the trace
            log.exception("screening %s failed", job.id)
            self._fail(job, f"internal error ({type(exc).__name__}); nothing was written", failed)
        else:
            self._set(
                job.id,
                status="done",
                rows_done=summary.rows,
                rows_total=summary.rows,
                counts=json.dumps(summary.counts),
                finished_at=_now(),
            )
        finally:
            src.unlink(missing_ok=True)
            if frozen and gc.get_freeze_count() == 0:
                gc.freeze()

    def _fail(self, job: Job, reason: str, failed: Callable[[str], None]) -> None:
        try:
            failed(reason)
        finally:
            self._set(job.id, status="failed", error=reason, finished_at=_now())

    def close(self) -> None:
        """Stop at the next chunk (the running job and the queued ones fail, saying so) and wait for that."""
        self._stop.set()
        self._q.put(None)
        if self._thread is not None:
            self._thread.join(timeout=30)
