"""Public search under concurrent load, at 100,000 listed subjects (issue 18).

The real server (uvicorn, one worker, loopback, the rate limit raised out of the way) answers
``GET /v1/public/search`` to 8 concurrent clients (a Python asyncio/httpx generator in its own process, or
``wrk`` when installed). Beside it, in the same run:

* **ceiling**: the search's own SQL statement (the EXISTS form) in a loop on one connection, no HTTP, no audit;
* **baseline statement**: the statement search used before (``subjects.id IN (SELECT subject_id FROM records
  ...)``) in the same loop;
* **baseline server** (``--baseline-src DIR``): the same load against the server of another source tree (e.g.
  ``git archive <old commit> src | tar -x -C /tmp/old``), which also wrote its audit entry in its own
  ``BEGIN IMMEDIATE`` transaction.

The demo generator stores only subjects with records (``demo --subjects 100000`` gives 27,341), so this builds
its own registry: N people, each with one defaulter record in force, names drawn so a two-character query
matches about 1 in 50 of them (``王伟`` over 100,000 subjects: about 2,000 matches, 21 read a page).

    .venv/bin/python benchmarks/bench_public_search.py [--quick] [--subjects 100000] [--seconds 10]
        [--postgres [URL]] [--baseline-src /tmp/old/src]

Prints one JSON line per figure: {"figure","value","baseline","goal","unit","command"}.
Goals: >= 500 requests/s with 8 concurrent clients, p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_http import PG_URL, free_port, stop  # noqa: E402
from stdnum.cn import ric  # noqa: E402

SURNAMES = "王李张刘陈杨赵黄周吴"
GIVEN = "伟芳娜敏静"
QUERIES = ["王伟", "李芳", "张娜", "刘敏", "陈静", "杨伟", "赵芳", "黄娜", "周敏", "吴静"]
CONNECTIONS = 8


def person(n: int) -> str:
    """A distinct valid resident ID for each n below 36,500,000 (1,000 a birth day from 1950)."""
    born = dt.date(1950, 1, 1) + dt.timedelta(days=n // 1000)
    body = f"110105{born:%Y%m%d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def build(url: str, n: int) -> None:
    """N listed people, each with one public record in force."""
    from socialcredit.catalogue import default_catalogue
    from socialcredit.registry import check_row, file_batch
    from socialcredit.store import Database, upgrade

    db = Database.open(url)
    upgrade(db.engine)
    cat = default_catalogue()
    now = dt.datetime.now(dt.UTC)
    for start in range(0, n, 5000):
        rows = [
            check_row(
                {
                    "external_id": f"s{i}",
                    "authority": "court",
                    "category": "court.judgment_defaulter",
                    "subject_id": person(i),
                    "subject_name": f"{SURNAMES[i % 10]}{GIVEN[i // 10 % 5]}{i}",
                    "decision_no": f"(2025)京执{i}号",
                    "decided_on": "2025-06-01",
                },
                cat,
                now,
            )
            for i in range(start, min(n, start + 5000))
        ]
        with db.engine.begin() as conn:
            file_batch(conn, rows, cat, "bench", now)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:  # what autovacuum would do after a bulk load: fresh statistics
            conn.execute(text("ANALYZE"))
    db.engine.dispose()


def statements(url: str) -> dict[str, Any]:
    """The new and the old search statement (page 1), compiled for this store, and their plans."""
    from sqlalchemy import and_, or_, select

    from socialcredit.catalogue import default_catalogue
    from socialcredit.store.tables import records, subjects

    cat = default_catalogue()
    public = [c for c, x in cat.categories.items() if x.public]
    now = dt.datetime.now(dt.UTC)
    listed = and_(
        records.c.category.in_(public),
        records.c.status == "filed",
        records.c.applies_from <= now,
        or_(records.c.effective_until.is_(None), records.c.effective_until > now),
    )
    head = select(subjects.c.id, subjects.c.name, subjects.c.kind)
    tail = (subjects.c.name, subjects.c.id)
    new = head.where(
        subjects.c.name.like("%王伟%"),
        select(records.c.id).where(records.c.subject_id == subjects.c.id, listed).exists(),
    )
    old = head.where(
        subjects.c.name.like("%王伟%"), subjects.c.id.in_(select(records.c.subject_id).where(listed))
    )
    out: dict[str, Any] = {}
    engine = create_engine(url)
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        for name, stmt in (("exists", new), ("in", old)):
            stmt = stmt.order_by(*tail).limit(21)
            compiled = stmt.compile(engine, compile_kwargs={"literal_binds": True})
            sql = str(compiled)
            plan = [" ".join(str(c) for c in row) for row in conn.execute(text(explain + sql))]
            out[name] = {"sql": sql, "plan": plan}
    engine.dispose()
    return out


def sql_loop(url: str, sql: str, seconds: float) -> dict[str, float]:
    """Run ``sql`` in a loop on one connection: statements/s and p99 (the same-run ceiling)."""
    engine = create_engine(url)
    lat: list[float] = []
    with engine.connect() as conn:
        stop_at = time.perf_counter() + seconds
        t_start = time.perf_counter()
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            conn.execute(text(sql)).all()
            lat.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - t_start
    engine.dispose()
    lat.sort()
    return {"rps": len(lat) / elapsed, "p50_ms": lat[len(lat) // 2] * 1000, "p99_ms": _p99(lat) * 1000}


def _p99(lat: list[float]) -> float:
    return lat[min(len(lat) - 1, int(len(lat) * 0.99))]


def start_server(url: str, port: int, src: Path | None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SOCIALCREDIT_DATABASE_URL": url,
        "SOCIALCREDIT_PUBLIC_RATE_LIMIT": str(10**9),
    }
    if src is not None:
        env["PYTHONPATH"] = str(src)
    cmd = [sys.executable, "-m", "uvicorn", "socialcredit.api.app:server_app", "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


async def _load(port: int, conns: int, seconds: float) -> dict[str, float]:
    lat: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as client:
        stop_at = time.perf_counter() + seconds

        async def worker(k: int) -> None:
            nonlocal errors
            i = k
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                r = await client.get("/v1/public/search", params={"q": QUERIES[i % len(QUERIES)]})
                lat.append(time.perf_counter() - t0)
                errors += r.status_code != 200
                i += conns

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(conns)))
        elapsed = time.perf_counter() - t0
    lat.sort()
    return {
        "rps": len(lat) / elapsed,
        "p50_ms": lat[len(lat) // 2] * 1000,
        "p99_ms": _p99(lat) * 1000,
        "errors": errors,
    }


def load_in_process(port: int, conns: int, seconds: float) -> dict[str, float]:
    """The load generator in its own process, so its CPU is not the server's GIL."""
    code = (
        f"import asyncio, json, sys; sys.path.insert(0, {str(HERE)!r}); import bench_public_search as b; "
        f"print(json.dumps(asyncio.run(b._load({port}, {conns}, {seconds}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def serve_and_load(url: str, src: Path | None, seconds: float) -> dict[str, float]:
    port = free_port()
    proc = start_server(url, port, src)
    try:
        load_in_process(port, CONNECTIONS, 1.0)  # warm-up
        one = load_in_process(port, 1, seconds / 2)
        many = load_in_process(port, CONNECTIONS, seconds)
    finally:
        stop(proc)
    return {"one_p99_ms": one["p99_ms"], **many}


def store_url(work: Path, postgres: str | None, prefix: str) -> tuple[str, str | None]:
    """The registry's URL: an SQLite file in ``work``, or a fresh schema ``<prefix>_<pid>`` on PostgreSQL."""
    if not postgres:
        return f"sqlite:///{work / 'bench.db'}", None
    schema = f"{prefix}_{os.getpid()}"
    with create_engine(postgres).begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    return f"{postgres}{'&' if '?' in postgres else '?'}options=-csearch_path%3D{schema}", schema


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5,000 subjects, 3 s a run (make bench --quick)")
    ap.add_argument("--subjects", type=int, default=None, help="default 100,000")
    ap.add_argument("--seconds", type=float, default=None, help="default 10")
    ap.add_argument("--postgres", metavar="URL", nargs="?", const=PG_URL, default=None)
    ap.add_argument("--baseline-src", type=Path, default=None, help="another tree's src/ for the baseline")
    args = ap.parse_args()
    args.subjects = args.subjects or (5_000 if args.quick else 100_000)
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    command = "PYTHONPATH=src .venv/bin/python " + " ".join(sys.argv)
    work = Path(tempfile.mkdtemp(prefix="bench-search-"))
    url, schema = store_url(work, args.postgres, "bench_search")
    store = "postgresql" if schema else "sqlite"
    try:
        t0 = time.perf_counter()
        build(url, args.subjects)
        print(
            f"built {args.subjects} listed subjects on {store} in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        stmts = statements(url)
        for name, s in stmts.items():
            print(f"plan ({name}):\n  " + "\n  ".join(s["plan"]), flush=True)
        ceiling = sql_loop(url, stmts["exists"]["sql"], args.seconds / 2)
        old_sql = sql_loop(url, stmts["in"]["sql"], args.seconds / 2)
        real = serve_and_load(url, None, args.seconds)
        base = serve_and_load(url, args.baseline_src, args.seconds) if args.baseline_src else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if schema and args.postgres:
            with create_engine(args.postgres).begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))

    def fig(figure: str, value: float, baseline: float | None, goal: str | None, unit: str) -> None:
        row = {"figure": f"{store}: {figure}", "value": round(value, 2)}
        row |= {"baseline": None if baseline is None else round(baseline, 2), "goal": goal, "unit": unit}
        print(json.dumps({**row, "command": command}, ensure_ascii=False))

    n = f"{args.subjects} listed"
    fig(
        f"search SQL ms p50, EXISTS form (baseline: IN form), {n}",
        ceiling["p50_ms"],
        old_sql["p50_ms"],
        None,
        "ms",
    )
    fig(
        f"ceiling: search SQL in a loop, statements/s (baseline: IN form), {n}",
        ceiling["rps"],
        old_sql["rps"],
        None,
        "1/s",
    )
    b = base or {}
    fig(f"public search, 8 clients, requests/s, {n}", real["rps"], b.get("rps"), ">= 500", "1/s")
    fig(f"public search, 8 clients, p99, {n}", real["p99_ms"], b.get("p99_ms"), "<= 50", "ms")
    fig(f"public search, 8 clients, p50, {n}", real["p50_ms"], b.get("p50_ms"), None, "ms")
    fig(f"public search, 1 client, p99, {n}", real["one_p99_ms"], b.get("one_p99_ms"), None, "ms")
    fig(f"public search, 8 clients, non-200 answers, {n}", real["errors"], b.get("errors"), "0", "count")


if __name__ == "__main__":
    main()
