"""A real ``socialcredit serve`` subprocess over a fresh SQLite file, for tests of what only the server
(uvicorn and its settings) decides: connection limits, which headers uvicorn believes. No tests here."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

import socialcredit

PORTS = range(18100, 18200)  # the range these tests may listen on


@dataclass
class Served:
    url: str
    port: int
    proc: subprocess.Popen[bytes]


def _free_port() -> int:
    # Each xdist worker starts in its own part of the range, so two workers never pick the same free port at
    # once (one server would fail to bind while the other's answered its readiness probe).
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    start = worker * 25 % len(PORTS)
    for port in [*PORTS[start:], *PORTS[:start]]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


@contextlib.contextmanager
def serve(tmp: Path, **settings: str) -> Iterator[Served]:
    """``socialcredit serve`` with ``SOCIALCREDIT_<NAME>`` settings; stopped (by its pid) on exit."""
    src = str(Path(socialcredit.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "SOCIALCREDIT_DATABASE_URL": f"sqlite:///{tmp / 'served.db'}",
        "SOCIALCREDIT_LOOKUP_HASH_KEY_FILE": str(tmp / "lookup.key"),
        **{f"SOCIALCREDIT_{k.upper()}": v for k, v in settings.items()},
    }
    cli = [sys.executable, "-c", "from socialcredit.cli import main; main()"]
    subprocess.run([*cli, "init"], env=env, check=True, capture_output=True)
    port = _free_port()
    with (tmp / "serve.log").open("wb") as log:  # the child holds its own copy of the descriptor
        proc = subprocess.Popen(
            [*cli, "serve", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start: {(tmp / 'serve.log').read_text()}")
            time.sleep(0.1)
        time.sleep(0.2)
        if proc.poll() is not None:  # another process answered on the port: ours could not bind it
            raise RuntimeError(f"serve exited after start: {(tmp / 'serve.log').read_text()}")
        yield Served(url, port, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
