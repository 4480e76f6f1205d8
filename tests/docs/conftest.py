"""Fixture strategy of the docs tests.

``docs_registry`` is what a reader has after ``make demo``: a fresh registry (``socialcredit init``, then
``socialcredit demo --seed 7`` with few subjects: the examples name only the fixed ones, the same for any seed
and size) and ``socialcredit serve`` on a free port, both run as the reader runs them, through the installed
command. One per session and store: SQLite always, PostgreSQL too (in a schema of its own) when
``SOCIALCREDIT_TEST_DATABASE_URL`` is set. Examples run in a scratch directory with this environment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from socialcredit.store import connect

from .examples import ROOT

PG_URL = os.environ.get("SOCIALCREDIT_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
DEMO_SUBJECTS = 60
PORTS = range(18800, 18900)
BIN = Path(sys.executable).parent


@dataclass
class Registry:
    backend: str
    url: str  # where the examples' server listens, for http://127.0.0.1:8000 in the docs
    env: dict[str, str]
    workdir: Path


def docs_env(database_url: str) -> dict[str, str]:
    """The reader's shell: the venv's commands first, this tree's sources, wide and plain terminal output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCREDIT_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p),
        SOCIALCREDIT_DATABASE_URL=database_url,
        COLUMNS="200",  # rich wraps at the terminal's width: wide enough that no documented line wraps
        TERMINAL_WIDTH="200",
        NO_COLOR="1",
        LC_ALL="C.UTF-8",
    )
    return env


def _ports(backend: str) -> list[int]:
    # Each xdist worker and store starts from its own place in the range, so that two servers coming up at
    # once do not both find the same port free.
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    start = (worker * 2 + BACKENDS.index(backend)) * 8 % len(PORTS)
    return [PORTS[(start + i) % len(PORTS)] for i in range(len(PORTS))]


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _serve(cli: str, env: dict[str, str], workdir: Path, backend: str) -> tuple[subprocess.Popen[bytes], str]:
    """``socialcredit serve`` on a free port, up and answering; another port if that one was taken meanwhile."""
    log_path = workdir / "serve.log"
    for port in [p for p in _ports(backend) if _free(p)][:5]:
        with log_path.open("w") as log:
            server = subprocess.Popen(
                [cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                cwd=workdir,
                stdout=log,
                stderr=log,
            )
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            if server.poll() is not None:
                break  # it could not bind, or failed: try the next port (the log says which)
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200 and server.poll() is None:
                    return server, base
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        server.kill()
        server.wait()
    raise AssertionError("the server did not come up: " + log_path.read_text())


def _pg(statement: str) -> None:
    engine = connect(PG_URL)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def _run(args: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="session", params=BACKENDS)
def docs_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    workdir = tmp_path_factory.mktemp(f"docs-{request.param}")
    schema = ""
    if request.param == "sqlite":
        database_url = f"sqlite:///{workdir / 'socialcredit.db'}"
    else:
        schema = f"scdocs_{uuid.uuid4().hex[:12]}"  # one per run and worker: runs never share tables
        _pg(f"CREATE SCHEMA {schema}")
        database_url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    env = docs_env(database_url)
    cli = str(BIN / "socialcredit")
    _run([cli, "init"], env, workdir)
    _run([cli, "demo", "--subjects", str(DEMO_SUBJECTS), "--seed", "7", "--no-progress"], env, workdir)
    server, base = _serve(cli, env, workdir, request.param)
    try:
        yield Registry(request.param, base, env, workdir)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        if schema:
            _pg(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
