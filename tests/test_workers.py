"""The import's worker processes: answers in the order asked, a task's error raised in the caller, a worker that
dies named, and none left running however the caller stops."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from socialcredit.registry.workers import WorkerFailed, Workers

_state: dict[str, Any] = {}


def _setup(tag: str) -> None:
    _state["tag"] = tag


def _slow_echo(n: int) -> tuple[str, int, int]:
    time.sleep(0.002 * (n % 4))  # uneven: a later task often finishes first
    return _state["tag"], n, os.getpid()


def _big(n: int) -> bytes:
    return bytes(1 << 20) + n.to_bytes(4, "big")  # larger than a pipe's buffer, both ways


def _fail(n: int) -> int:
    if n == 3:
        raise KeyError(f"task {n}")
    return n


def _die(n: int) -> int:
    if n == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return n


def test_answers_come_in_the_order_asked_from_every_worker() -> None:
    with Workers[tuple[str, int, int]](2, _setup, ("set",)) as pool:
        out = list(pool.run((_slow_echo, n) for n in range(40)))
    assert [n for _, n, _ in out] == list(range(40))
    assert {tag for tag, _, _ in out} == {"set"}  # each worker ran the initializer
    assert len({pid for _, _, pid in out}) == 2


def test_large_tasks_and_answers_do_not_block_each_other() -> None:
    with Workers[bytes](2, _setup, ("x",)) as pool:
        out = list(pool.run((_big, n) for n in range(12)))
    assert [int.from_bytes(b[-4:], "big") for b in out] == list(range(12))


def test_a_task_error_is_raised_in_the_caller_with_its_type() -> None:
    with Workers[int](2, _setup, ("x",)) as pool, pytest.raises(KeyError, match="task 3"):
        list(pool.run((_fail, n) for n in range(8)))


def test_a_worker_that_dies_is_named_and_the_rest_stopped() -> None:
    pool = Workers[int](2, _setup, ("x",))
    procs = list(pool.procs)
    with pool, pytest.raises(WorkerFailed, match="stopped"):
        list(pool.run((_die, n) for n in range(8)))
    assert all(p.poll() is not None for p in procs)


def test_a_worker_gone_before_its_task_is_sent_is_named() -> None:
    with Workers[int](2, _setup, ("x",)) as pool:
        pool.procs[1].kill()
        pool.procs[1].wait()
        with pytest.raises(WorkerFailed, match=r"exit code -9"):
            list(pool.run((_fail, n) for n in range(2)))  # the second task meets a closed pipe


def test_stopping_early_leaves_no_worker_running() -> None:
    pool = Workers[bytes](2, _setup, ("x",))
    procs = list(pool.procs)
    with pool:
        answers = pool.run((_big, n) for n in range(100))
        next(answers)  # the caller stops reading with tasks and large answers still in flight
    assert all(p.poll() is not None for p in procs)
