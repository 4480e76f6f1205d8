"""Check audit throughput: entries/s through a node's ``NodeAuditLog.record()`` (published to JetStream in
batches) beside the registry's ``AuditWriter.record()`` (group-committed to the database), same run.

A second baseline is the driver alone (each "record" a future set at once): what the harness itself costs.
Both are driven the same way: ``--entries`` records from one event loop, ``--concurrency`` awaited at a time,
as a node's requests would. NATS at ``--nats`` (default nats://127.0.0.1:4222; a stream of its own, deleted
after); the registry on a fresh SQLite file (or ``--postgres URL``).

    python benchmarks/bench_node_audit.py [--entries 100000] [--concurrency 2000] [--results benchmarks/results.jsonl]

Prints one JSON line per figure (benchmarks/figures.py's form); ``--results FILE`` appends them to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from figures import figure  # noqa: E402

from socialcredit.api.state import AuditWriter  # noqa: E402
from socialcredit.audit import AuditEntry  # noqa: E402
from socialcredit.node.audit import NodeAuditLog  # noqa: E402
from socialcredit.store import connect, upgrade  # noqa: E402


def _entry(i: int) -> AuditEntry:
    return AuditEntry("k1", "checkpoint", "checks.single", f"11010519500101{i:04d}", "allowed", "boarding")


async def _drive(record: object, n: int, concurrency: int) -> float:
    rec = record  # an awaitable function of one entry
    start = time.perf_counter()
    for i in range(0, n, concurrency):
        await asyncio.gather(*(rec(_entry(j)) for j in range(i, min(n, i + concurrency))))  # type: ignore[operator]
    return n / (time.perf_counter() - start)


async def _ceiling(entry: AuditEntry) -> int:
    """What the driver itself costs: a future of the caller's loop, set at once (no chain, no I/O)."""
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(fut.set_result, 1)
    return await fut


def _drop(url: str, stream: str) -> None:
    import nats

    async def go() -> None:
        nc = await nats.connect(url)
        await nc.jetstream().delete_stream(stream)
        await nc.close()

    asyncio.run(go())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--concurrency", type=int, default=2000)
    ap.add_argument("--nats", default="nats://127.0.0.1:4222")
    ap.add_argument("--postgres", default=None)
    ap.add_argument("--results", type=Path, default=None, help="append the figure lines to this file")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-node-audit-"))
    tag = uuid.uuid4().hex[:8]
    stream = f"BENCH_NODE_AUDIT_{tag}"
    node = NodeAuditLog(
        args.nats, "bench", stream=stream, subject_prefix=f"bench.nodeaudit.{tag}", state_dir=tmp
    )
    node.start()
    try:
        node_rate = asyncio.run(_drive(node.record, args.entries, args.concurrency))
    finally:
        node.close()
        _drop(args.nats, stream)
    url = args.postgres or f"sqlite:///{tmp / 'registry.db'}"
    engine = connect(url)
    upgrade(engine)
    writer = AuditWriter(engine)
    writer.start()
    try:
        registry_rate = asyncio.run(_drive(writer.record, args.entries, args.concurrency))
    finally:
        writer.close()
        engine.dispose()
    ceiling = asyncio.run(_drive(_ceiling, args.entries, args.concurrency))
    store = "PostgreSQL" if args.postgres else "SQLite"
    cmd = "python benchmarks/bench_node_audit.py" + (
        f" --entries {args.entries}" if args.entries != 100_000 else ""
    )
    rows = [
        figure(
            "check audit entries through a node's record(), to JetStream"
            f" (baseline: the registry's AuditWriter, {store})",
            round(node_rate),
            "entries/s",
            baseline=round(registry_rate),
            goal=None,
            command=cmd,
        )
    ]
    rows.append(
        figure(
            "check audit entries through a node's record(), to JetStream"
            " (baseline: the same driver awaiting a future set at once, no audit)",
            round(node_rate),
            "entries/s",
            baseline=round(ceiling),
            goal=None,
            command=cmd,
        )
    )
    for r in rows:
        print(json.dumps(r, ensure_ascii=False))
    if args.results:
        with args.results.open("a", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
