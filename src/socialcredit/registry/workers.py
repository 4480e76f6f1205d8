"""Worker processes for the import: each fed over its own pipe, round robin, and read back in the same order.

Not ``multiprocessing.Pool``: its worker-handler thread waits on the result pipe too, so while a large result
waits to be read it spins in the importing process, taking the interpreter lock from the writer thread (about
a tenth of that process's time in an import), and a result-handler thread stands between every result and its
reader. Here the caller's thread sends tasks and reads results itself, with no thread beside it; the order of
results is the order of tasks by construction.

Each worker process reads its pipe on a thread of its own, so a task sent while the worker is busy never
blocks the sender behind the worker's own (large) result: the two never wait on each other.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

__all__ = ["WorkerFailed", "Workers"]

R = TypeVar("R")


class WorkerFailed(RuntimeError):
    """A worker process ended without answering (killed, or out of memory)."""


def _serve(
    tasks: Connection, results: Connection, initializer: Callable[..., None], initargs: tuple[Any, ...]
) -> None:
    initializer(*initargs)
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def receive() -> None:
        while True:
            try:
                message = tasks.recv()
            except (EOFError, OSError):
                message = None
            inbox.put(message)
            if message is None:
                return

    threading.Thread(target=receive, daemon=True).start()
    while (message := inbox.get()) is not None:
        fn, arg = message
        try:
            answer: tuple[bool, Any] = (True, fn(arg))
        except BaseException as exc:  # handed to the caller, which raises it
            try:
                pickle.dumps(exc)
            except Exception:
                exc = RuntimeError(f"{type(exc).__name__}: {exc}")
            answer = (False, exc)
        results.send(answer)


class Workers(Generic[R]):
    """``processes`` spawned workers (none of the caller's threads, locks or connections go with them), each
    set up by ``initializer(*initargs)``. Use as a context manager: leaving it stops every worker."""

    def __init__(
        self, processes: int, initializer: Callable[..., None], initargs: tuple[Any, ...], depth: int = 2
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.depth = depth
        self.pipes: list[tuple[Connection, Connection]] = []
        self.procs: list[Any] = []
        try:
            for _ in range(processes):
                task_r, task_w = ctx.Pipe(duplex=False)
                result_r, result_w = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_serve, args=(task_r, result_w, initializer, initargs), daemon=True)
                proc.start()
                task_r.close()
                result_w.close()
                self.pipes.append((task_w, result_r))
                self.procs.append(proc)
        except BaseException:
            self.close()
            raise

    def run(self, calls: Iterable[tuple[Callable[[Any], R], Any]]) -> Iterator[R]:
        """``fn(arg)`` for each (fn, arg), in order; at most ``depth`` calls per worker at a time."""
        n = len(self.pipes)
        sent: deque[int] = deque()  # the worker of each call sent and not yet answered, in order
        for i, call in enumerate(calls):
            self.pipes[i % n][0].send(call)
            sent.append(i % n)
            if len(sent) >= n * self.depth:
                yield self._answer(sent.popleft())
        while sent:
            yield self._answer(sent.popleft())

    def _answer(self, w: int) -> R:
        try:
            ok, value = self.pipes[w][1].recv()
        except (EOFError, OSError):
            proc = self.procs[w]
            proc.join(1)
            raise WorkerFailed(f"an import worker process stopped (exit code {proc.exitcode})") from None
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop the workers: asked to end if idle, terminated if still at work a moment later."""
        for task_w, _ in self.pipes:
            with contextlib.suppress(OSError):  # a worker already gone
                task_w.send(None)
        for proc in self.procs:
            proc.join(0.5)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        for task_w, result_r in self.pipes:
            task_w.close()
            result_r.close()
        self.pipes, self.procs = [], []

    def __enter__(self) -> Workers[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
