"""Worker processes for the import: each fed over its own pipe, round robin, and read back in the same order.

Not ``multiprocessing.Pool``: its worker-handler thread waits on the result pipe too, so while a large result
waits to be read it spins in the importing process, taking the interpreter lock from the writer thread (about
a tenth of that process's time in an import), and a result-handler thread stands between every result and its
reader. Here the caller's thread sends tasks and reads results itself, with no thread beside it; the order of
results is the order of tasks by construction.

Not ``multiprocessing.Process`` either: a worker is a plain ``python -c`` subprocess (a fresh interpreter, as
spawn gives, inheriting none of the caller's threads, locks or connections) that loads only what its tasks
need, and no resource-tracker process (12 MB) stands beside the workers. Tasks and answers are pickled over two
pipes with ``multiprocessing.connection.Connection``'s framing. A worker reads its task pipe on a thread of its
own, so a task sent while it is busy never blocks the sender behind the worker's own (large) answer.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

__all__ = ["WorkerFailed", "Workers"]

R = TypeVar("R")

_START = "from socialcredit.registry.workers import _child; _child()"


class WorkerFailed(RuntimeError):
    """A worker process ended without answering (killed, or out of memory)."""


def _child() -> None:
    """A worker's main: its pipes' descriptors in ``argv``; first the caller's ``sys.path``, then the set-up
    call, then (function, argument) calls until ``None`` or the end of the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle; it then closes the pipes
    tasks = Connection(int(sys.argv[1]), writable=False)
    results = Connection(int(sys.argv[2]), readable=False)
    sys.path[:] = tasks.recv()  # before unpickling anything of the caller's (its modules may be on it only)
    initializer, initargs = tasks.recv()
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
        try:
            results.send(answer)
        except OSError:  # a broken pipe: the caller has gone
            return


class Workers(Generic[R]):
    """``processes`` worker processes, each set up by ``initializer(*initargs)`` (both picklable by reference).
    Use as a context manager: leaving it stops every worker."""

    def __init__(self, processes: int, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
        self.pipes: list[tuple[Connection, Connection]] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        try:
            for _ in range(processes):
                task_r, task_w = os.pipe()
                result_r, result_w = os.pipe()
                try:
                    proc = subprocess.Popen(
                        [sys.executable, "-c", _START, str(task_r), str(result_w)],
                        pass_fds=(task_r, result_w),
                        stdin=subprocess.DEVNULL,
                    )
                except BaseException:
                    os.close(task_w)
                    os.close(result_r)
                    raise
                finally:
                    os.close(task_r)  # the worker's ends: only the worker holds them now
                    os.close(result_w)
                self.procs.append(proc)
                self.pipes.append((Connection(task_w, readable=False), Connection(result_r, writable=False)))
                try:
                    self.pipes[-1][0].send(sys.path)
                    self.pipes[-1][0].send((initializer, initargs))
                except OSError:  # a broken pipe: the worker died starting
                    raise self._failed(len(self.procs) - 1) from None
        except BaseException:
            self.close()
            raise

    def run(self, calls: Iterable[tuple[Callable[[Any], R], Any]]) -> Iterator[R]:
        """``fn(arg)`` for each (fn, arg), in order. One call per worker and one more are in flight: a worker
        always has its next call waiting while its last answer is read, and no more is held (each call and
        answer is memory of its own)."""
        n = len(self.pipes)
        sent: deque[int] = deque()  # the worker of each call sent and not yet answered, in order
        for i, call in enumerate(calls):
            try:
                self.pipes[i % n][0].send(call)
            except OSError:  # a broken pipe: the worker has gone
                raise self._failed(i % n) from None
            sent.append(i % n)
            if len(sent) > n:
                yield self._answer(sent.popleft())
        while sent:
            yield self._answer(sent.popleft())

    def _answer(self, w: int) -> R:
        try:
            ok, value = self.pipes[w][1].recv()
        except (EOFError, OSError):
            raise self._failed(w) from None
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def _failed(self, w: int) -> WorkerFailed:
        proc = self.procs[w]
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(1)
        return WorkerFailed(f"an import worker process stopped (exit code {proc.returncode})")

    def close(self) -> None:
        """Stop the workers: asked to end if idle, terminated if still at work a moment later."""
        for task_w, _ in self.pipes:
            with contextlib.suppress(OSError):  # a worker already gone
                task_w.send(None)
        for task_w, result_r in self.pipes:
            task_w.close()
            result_r.close()  # a worker blocked sending an answer nobody reads now gets an error and ends
        for proc in self.procs:
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.pipes, self.procs = [], []

    def __enter__(self) -> Workers[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
