"""The portal's public list page and subject page under concurrent load, at 100,000 listed subjects (issue 18).

The registry is the one bench_public_search.py builds (imported, not copied): N people, each with one
defaulter record in force. The real server (uvicorn, one worker, loopback, rate limit out of the way)
answers 8 concurrent clients (an asyncio/httpx generator in its own process) on

* ``GET /portal/lists/court.judgment_defaulter?page=P`` (P cycling over the first 20 pages), and
* ``GET /portal/subjects/{ref}`` (refs of listed subjects, computed with the key file the server uses).

Beside each, in the same run, its **ceiling**: the same read in a loop in one process, no HTTP, no template:
the snapshot fetch (``Listings.get``: the registry's newest event, then the cached snapshot) and the page's
selection (the category's rows, page P; for a subject, its records and the public-history SQL).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_portal_pages.py [--quick] [--subjects 100000]
        [--seconds 10] [--postgres [URL]] [--results benchmarks/results.jsonl]

Prints one JSON line per figure (benchmarks/figures.py's form); ``--results FILE`` appends them to FILE.
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
from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy import create_engine, text

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_http import PG_URL, free_port, stop  # noqa: E402
from bench_public_search import _p99, build, person, start_server, store_url  # noqa: E402
from figures import figure  # noqa: E402

CATEGORY = "court.judgment_defaulter"
PAGES = 20
REFS = 200
CONNECTIONS = 8


def list_paths() -> list[str]:
    return [f"/portal/lists/{CATEGORY}?page={p}" for p in range(1, PAGES + 1)]


def subject_paths(key_file: Path, n: int) -> list[str]:
    from socialcredit.api.budget import LookupHasher
    from socialcredit.api.public_lists import subject_ref

    hasher = LookupHasher(key_file)
    step = max(1, n // REFS)
    return [f"/portal/subjects/{subject_ref(hasher, person(i))}" for i in range(0, n, step)][:REFS]


def ceilings(url: str, key_file: Path, n: int, seconds: float) -> dict[str, dict[str, float]]:
    """Each page's read (snapshot fetch + the page's selection) in a loop on one connection, no HTTP."""
    from socialcredit.api.budget import LookupHasher
    from socialcredit.api.public_lists import Listings, subject_ref
    from socialcredit.catalogue import default_catalogue
    from socialcredit.store import Database
    from socialcredit.web.lists import LIST_PAGE_SIZE, _history

    db = Database.open(url)
    cat = default_catalogue()
    hasher = LookupHasher(key_file)
    cache = Listings()
    fake: Any = SimpleNamespace(
        app=SimpleNamespace(state=SimpleNamespace(sc=SimpleNamespace(catalogue=cat, db=db)))
    )
    step = max(1, n // REFS)
    sids = [person(i) for i in range(0, n, step)][:REFS]
    refs = [subject_ref(hasher, s) for s in sids]
    out: dict[str, dict[str, float]] = {}
    with db.engine.connect() as conn:
        t0 = time.perf_counter()
        cache.get(conn, cat, hasher, dt.datetime.now(dt.UTC))
        out["snapshot"] = {"build_s": time.perf_counter() - t0}
        conn.rollback()

        def list_read(k: int) -> None:
            listing = cache.get(conn, cat, hasher, dt.datetime.now(dt.UTC))
            start = (k % PAGES) * LIST_PAGE_SIZE
            rows = listing.of_category(CATEGORY)[start : start + LIST_PAGE_SIZE]
            assert len(rows) == LIST_PAGE_SIZE or n < PAGES * LIST_PAGE_SIZE
            conn.rollback()

        def subject_read(k: int) -> None:
            listing = cache.get(conn, cat, hasher, dt.datetime.now(dt.UTC))
            sid = listing.by_ref[refs[k % len(refs)]]
            mine = [r for r in listing.records if r.state.subject_id == sid]
            assert mine
            conn.rollback()
            _history(fake, sid)

        for name, read in (("list", list_read), ("subject", subject_read)):
            lat: list[float] = []
            stop_at = time.perf_counter() + seconds
            t_start = time.perf_counter()
            k = 0
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                read(k)
                lat.append(time.perf_counter() - t0)
                k += 1
            elapsed = time.perf_counter() - t_start
            lat.sort()
            out[name] = {
                "rps": len(lat) / elapsed,
                "p50_ms": lat[len(lat) // 2] * 1000,
                "p99_ms": _p99(lat) * 1000,
            }
    db.engine.dispose()
    return out


async def _load(port: int, conns: int, seconds: float, paths: list[str]) -> dict[str, float]:
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
                r = await client.get(paths[i % len(paths)])
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


def load_in_process(port: int, conns: int, seconds: float, paths: list[str]) -> dict[str, float]:
    """The load generator in its own process, so its CPU is not the server's GIL."""
    code = (
        f"import asyncio, json, sys; sys.path.insert(0, {str(HERE)!r}); import bench_portal_pages as b; "
        f"print(json.dumps(asyncio.run(b._load({port}, {conns}, {seconds}, {paths!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def serve_and_load(url: str, seconds: float, pages: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    port = free_port()
    proc = start_server(url, port, None)
    out: dict[str, dict[str, float]] = {}
    try:
        t0 = time.perf_counter()
        r = httpx.get(f"http://127.0.0.1:{port}{pages['list'][0]}", timeout=600)  # builds the snapshot
        if r.status_code != 200:
            raise RuntimeError(f"list page answered {r.status_code}")
        first = time.perf_counter() - t0
        for name, paths in pages.items():
            load_in_process(port, CONNECTIONS, 1.0, paths)  # warm-up
            one = load_in_process(port, 1, seconds / 2, paths)
            many = load_in_process(port, CONNECTIONS, seconds, paths)
            out[name] = {"one_p99_ms": one["p99_ms"], **many}
        out["snapshot"] = {"first_s": first}
    finally:
        stop(proc)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5,000 subjects, 3 s a run")
    ap.add_argument("--subjects", type=int, default=None, help="default 100,000")
    ap.add_argument("--seconds", type=float, default=None, help="default 10")
    ap.add_argument("--postgres", metavar="URL", nargs="?", const=PG_URL, default=None)
    ap.add_argument("--results", type=Path, default=None, help="append the figure lines to this file")
    args = ap.parse_args()
    args.subjects = args.subjects or (5_000 if args.quick else 100_000)
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    shown = [a for a in sys.argv[1:] if not a.startswith("--results") and not a.endswith(".jsonl")]
    command = "python benchmarks/bench_portal_pages.py " + " ".join(shown)
    work = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    key_file = work / "lookup-hash.key"
    os.environ["SOCIALCREDIT_LOOKUP_HASH_KEY_FILE"] = str(
        key_file
    )  # the server's key: refs computed here match
    url, schema = store_url(work, args.postgres, "bench_pages")
    store = "PostgreSQL" if schema else "SQLite"
    try:
        t0 = time.perf_counter()
        build(url, args.subjects)
        print(
            f"built {args.subjects} listed subjects on {store} in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        pages = {"list": list_paths(), "subject": subject_paths(key_file, args.subjects)}
        ceil = ceilings(url, key_file, args.subjects, args.seconds / 2)
        print(f"snapshot built in-process in {ceil['snapshot']['build_s']:.1f} s", flush=True)
        real = serve_and_load(url, args.seconds, pages)
        print(f"server's first list page (snapshot build) {real['snapshot']['first_s']:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if schema and args.postgres:
            with create_engine(args.postgres).begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))

    n = f"{args.subjects:,} listed"
    lines = []
    for page, title in (("list", "portal list page"), ("subject", "portal subject page")):
        r, c = real[page], ceil[page]
        lines += [
            figure(f"{title}, {n}, 8 clients, {store} (baseline: the same read in a loop, no HTTP)",
                   round(r["rps"], 1), "requests/s", baseline=round(c["rps"], 1), goal=500, command=command),
            figure(f"{title} p99, {n}, 8 clients, {store} (baseline: the same read's p99, no HTTP)",
                   round(r["p99_ms"], 1), "ms", baseline=round(c["p99_ms"], 2), goal=50, better="lower",
                   command=command),
            figure(f"{title} p99, {n}, 1 client, {store} (baseline: the same read's p50, no HTTP)",
                   round(r["one_p99_ms"], 1), "ms", baseline=round(c["p50_ms"], 2), better="lower",
                   command=command),
            figure(f"{title} non-200 answers, {n}, 8 clients, {store}", r["errors"], "count", goal=0,
                   better="lower", command=command),
        ]  # fmt: skip
    for row in lines:
        print(json.dumps(row, ensure_ascii=False), flush=True)
    if args.results:
        with args.results.open("a", encoding="utf-8") as f:
            f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in lines)


if __name__ == "__main__":
    main()
