"""What the node audit tests share: a uniquely named stream on the shared NATS, a private nats-server that can
be stopped and started (the "stream unreachable" cases), and running a node's log and the sink."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from nats_server import NATS_URL, require_nats
from socialcredit.anchor import load_public_key
from socialcredit.audit import AuditEntry
from socialcredit.node.audit import NodeAuditLog
from socialcredit.node.sink import AuditSink, SinkBatch
from socialcredit.node.verify import NodeChainCheck, verify_nodes

NATS_SERVER = Path("/usr/sbin/nats-server")


@dataclass
class Stream:
    url: str
    name: str
    prefix: str


def entry(n: int) -> AuditEntry:
    return AuditEntry("k1", "checkpoint", "checks.single", f"subject-{n}", "allowed", "boarding")


def drop_stream(url: str, name: str) -> None:
    import nats
    from nats.js.errors import NotFoundError

    async def go() -> None:
        nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=1)
        try:
            await nc.jetstream().delete_stream(name)
        except NotFoundError:
            pass
        finally:
            await nc.close()

    asyncio.run(go())


@pytest.fixture
def stream() -> Iterator[Stream]:
    require_nats()
    tag = uuid.uuid4().hex[:10]
    s = Stream(NATS_URL, f"TEST_NODE_AUDIT_{tag}", f"test.nodeaudit.{tag}")
    yield s
    drop_stream(s.url, s.name)


class PrivateNats:
    """A nats-server of its own on a free port, with JetStream files in ``store`` (kept across restarts)."""

    def __init__(self, store: Path) -> None:
        if not NATS_SERVER.exists():
            pytest.skip(f"{NATS_SERVER} is not installed")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.store, self.proc = store, None
        self.url = f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        cmd = [str(NATS_SERVER), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # type: ignore[assignment]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server on port {self.port} did not start")

    def stop(self) -> None:
        proc: Any = self.proc
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateNats]:
    server = PrivateNats(tmp_path / "nats-store")
    server.start()
    yield server
    server.stop()


def node_log(s: Stream, state: Path, node: str = "node-1", **kw: Any) -> NodeAuditLog:
    kw.setdefault("publish_timeout", 1.0)
    kw.setdefault("retry_every", 0.2)
    log = NodeAuditLog(s.url, node, stream=s.name, subject_prefix=s.prefix, state_dir=state, **kw)
    log.start()
    return log


def record_many(log: NodeAuditLog, start: int, n: int) -> list[int]:
    async def go() -> list[int]:
        return list(await asyncio.gather(*(log.record(entry(i)) for i in range(start, start + n))))

    return asyncio.run(go())


def sink_all(engine: Engine, s: Stream, durable: str = "sink", **kw: Any) -> SinkBatch:
    async def go() -> SinkBatch:
        sink = AuditSink(engine, s.url, stream=s.name, subject_prefix=s.prefix, durable=durable, **kw)
        await sink.connect()
        try:
            return await sink.run(idle_exit=0.5)
        finally:
            await sink.close()

    return asyncio.run(go())


def verify_with(engine: Engine, state: Path, grace: float = 180.0) -> list[NodeChainCheck]:
    def key(node: str) -> Any:
        path = state / f"{node}.audit-key.pub"
        return load_public_key(path) if path.exists() else None

    with engine.connect() as conn:
        return verify_nodes(conn, key, grace=grace)


def wait_for(cond: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.05)
