"""Private servers and real processes for the failure tests (issue 20 point 5): a PostgreSQL instance and a
nats-server of the test's own, on free ports in a temporary directory, that a test may stop, kill and restart;
and ``socialcredit serve`` / ``dispatch run`` / ``node serve`` processes over them, started through the CLI.

Never the machine's PostgreSQL (5432) or NATS (4222): other work depends on them, and a test that restarts a
server must own it. Each process writes its output to a log file beside its data, which a failing test names.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

import socialcredit
from socialcredit.catalogue import Catalogue
from socialcredit.keys import create_key

__all__ = [
    "NATS_SERVER",
    "PG_BIN",
    "PrivateNats",
    "PrivatePostgres",
    "Proc",
    "cli",
    "free_port",
    "make_key",
    "missing_binaries",
    "ready",
    "running",
    "start_dispatcher",
    "start_node",
    "start_server",
    "stop_all",
    "wait_until",
]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
NATS_SERVER = Path("/usr/sbin/nats-server")
PORTS = range(18300, 18700)  # the range the cluster tests listen on (tests/security uses 18100-18199)
_taken: set[int] = set()  # ports handed out by this process: a stopped server's port stays its own


def missing_binaries() -> list[str]:
    return [str(p) for p in (PG_BIN / "initdb", PG_BIN / "pg_ctl", NATS_SERVER) if not p.exists()]


def free_port() -> int:
    """A port nothing listens on, from this xdist worker's part of :data:`PORTS`, never handed out twice."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    start = worker * 100 % len(PORTS)
    for port in [*PORTS[start:], *PORTS[:start]]:
        if port in _taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _taken.add(port)
        return port
    raise RuntimeError(f"no free port in {PORTS}")


def wait_until(cond: Callable[[], Any], seconds: float, what: str, every: float = 0.02) -> Any:
    """Poll ``cond`` until it returns something true (returned); AssertionError naming ``what`` at the deadline."""
    end = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < end:
        try:
            last = cond()
        except (httpx.HTTPError, OSError) as exc:  # a server not up yet, or down on purpose
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds} s waiting for {what} (last: {last!r})")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _tmpdir(prefix: str, owner: str | None = None) -> Path:
    # Not pytest's tmp_path: its parents are private to root, and PostgreSQL runs as its own user.
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if owner is not None:
        shutil.chown(path, owner, owner)
    return path


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own: initdb into a temporary directory, trust authentication, on a free
    port of 127.0.0.1 (no Unix socket), fsync off (nothing here survives a crash of the machine anyway).

    initdb refuses to run as root: as root, the cluster belongs to the ``postgres`` user and the commands run
    under ``runuser``."""

    def __init__(self) -> None:
        self.as_root = os.geteuid() == 0
        self.dir = _tmpdir("sc-pg-", "postgres" if self.as_root else None)
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
        self._opts = opts + " -c full_page_writes=off -c synchronous_commit=off -c max_connections=200"
        self.start()

    def _pg(self, tool: str, *args: str) -> None:
        cmd = [str(PG_BIN / tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", self._opts, "-w", "start")
        wait_until(lambda: _port_open(self.port), 30, f"PostgreSQL on port {self.port}")

    def stop(self) -> None:
        """A fast shutdown: open sessions are ended, as when an operator restarts the server."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateNats:
    """A nats-server with JetStream of the test's own; :meth:`restart` keeps its port and its store directory,
    so streams and consumers survive it as they do an operator's restart."""

    def __init__(self) -> None:
        self.dir = _tmpdir("sc-nats-")
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        args = [str(NATS_SERVER), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.dir / "js")]
        with (self.dir / "nats.log").open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: _port_open(self.port), 15, f"nats-server on port {self.port}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: a clean shutdown (what a restart by systemd does); SIGKILL to crash it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)
        self.proc = None

    def restart(self, down: float = 0.0) -> None:
        self.stop()
        time.sleep(down)
        self.start()

    def close(self) -> None:
        self.stop(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Proc:
    """A ``socialcredit`` process: its URL when it listens, its log file."""

    proc: subprocess.Popen[bytes]
    log: Path
    port: int = 0
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def tail(self, lines: int = 40) -> str:
        """The end of its log, for an assertion message."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _env(workdir: Path, database_url: str, nats_url: str | None, **settings: str) -> dict[str, str]:
    src = str(Path(socialcredit.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "SOCIALCREDIT_DATABASE_URL": database_url,
        "SOCIALCREDIT_AUDIT_KEY_FILE": str(workdir / "audit.key"),
        "SOCIALCREDIT_AUDIT_HEADS_FILE": str(workdir / "audit-heads.jsonl"),
        "SOCIALCREDIT_LOOKUP_HASH_KEY_FILE": str(workdir / "lookup.key"),
        **{f"SOCIALCREDIT_{k.upper()}": v for k, v in settings.items()},
    }
    env.pop("SOCIALCREDIT_NATS_URL", None)
    if nats_url:
        env["SOCIALCREDIT_NATS_URL"] = nats_url
    return env


_CLI = [sys.executable, "-c", "from socialcredit.cli import main; main()"]


def _spawn(workdir: Path, name: str, args: list[str], env: dict[str, str], port: int = 0) -> Proc:
    log = workdir / f"{name}.log"
    with log.open("ab") as out:  # the child holds its own copy of the descriptor
        proc = subprocess.Popen([*_CLI, *args], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    return Proc(proc, log, port, env)


def _ready(p: Proc, path: str, seconds: float) -> Proc:
    def up() -> bool:
        if not p.alive():
            raise AssertionError(f"{p.log.name} exited with {p.proc.returncode}:\n{p.tail()}")
        return httpx.get(p.url + path, timeout=1).status_code == 200

    try:
        wait_until(up, seconds, f"{p.url}{path}", every=0.05)
    except AssertionError:
        p.stop()
        raise
    return p


def start_server(
    workdir: Path, database_url: str, nats_url: str | None = None, wait: bool = True, **settings: str
) -> Proc:
    """``socialcredit serve`` (the registry API) on a free port; returned once ``/healthz`` answers (at once with
    ``wait=False``: start several processes, then :func:`ready` each, and their imports overlap)."""
    port = free_port()
    env = _env(workdir, database_url, nats_url, **settings)
    args = ["serve", "--port", str(port), "--log-level", "warning"]
    proc = _spawn(workdir, f"serve-{port}", args, env, port)
    return ready(proc) if wait else proc


def start_dispatcher(workdir: Path, database_url: str, nats_url: str | None, name: str = "dispatch") -> Proc:
    """``socialcredit dispatch run`` polling every 5 ms (publishing to NATS when ``nats_url`` is given)."""
    env = _env(workdir, database_url, nats_url)
    args = ["dispatch", "run", "--poll", "0.005", "--backoff", "0.01", "--backoff-max", "0.05"]
    return _spawn(workdir, name, [*args, "--no-expire", "--timeout", "2", "--lease", "2"], env)


def start_node(
    workdir: Path,
    database_url: str,
    snapshot: Path,
    nats_url: str,
    name: str,
    port: int = 0,
    wait: bool = True,
    **settings: str,
) -> Proc:
    """``socialcredit node serve --snapshot FILE --nats URL`` named ``name`` (its durable consumer), on ``port``
    (a free one by default); returned once ``/healthz`` answers (it may still be catching up: ``/readyz``).
    ``database_url`` is where it reads keys and re-syncs from, never on a check. ``wait=False``: returned at
    once (start several, then :func:`ready` each)."""
    port = port or free_port()
    env = _env(workdir, database_url, None, **settings)
    args = ["node", "serve", "--snapshot", str(snapshot), "--nats", nats_url, "--port", str(port)]
    args += ["--name", name, "--log-level", "warning"]
    proc = _spawn(workdir, name, args, env, port)
    return ready(proc) if wait else proc


def ready(p: Proc, seconds: float = 120) -> Proc:
    """``p`` once its ``/healthz`` answers (stopped, and AssertionError with its log, if it does not)."""
    return _ready(p, "/healthz", seconds)


def cli(workdir: Path, database_url: str, *args: str) -> str:
    """Run one ``socialcredit`` command to its end; its standard output (CalledProcessError on failure)."""
    env = _env(workdir, database_url, None)
    done = subprocess.run([*_CLI, *args], env=env, cwd=workdir, capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise AssertionError(f"socialcredit {' '.join(args)}: exit {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def stop_all(procs: list[Proc]) -> None:
    """SIGTERM to each process (by its own pid), then wait for each: their shutdowns overlap."""
    for p in procs:
        if p.alive():
            p.proc.send_signal(signal.SIGTERM)
    for p in procs:
        p.stop()


@contextlib.contextmanager
def running(*procs: Proc) -> Iterator[None]:
    """Stop every process on exit."""
    try:
        yield
    finally:
        stop_all(list(procs))


def make_key(engine: Engine, catalogue: Catalogue, role: str, **fields: Any) -> str:
    """A new API key's token (set up beside the processes, as ``socialcredit keys create`` would)."""
    with engine.begin() as conn:
        _, token = create_key(conn, role, catalogue, dt.datetime.now(dt.UTC), **fields)
    return token
