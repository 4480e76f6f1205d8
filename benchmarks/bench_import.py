"""Import benchmark: ``socialcredit import`` of N generated records into SQLite and PostgreSQL.

For each database it reports rows/s and the peak RSS of the import process (run as a subprocess, read from
``/usr/bin/time``), beside a same-run baseline: plain SQLAlchemy ORM ``session.add()`` per row of the same
records (on a 20,000-row sample, rows/s extrapolated). Goal: >= 20,000 rows/s, peak RSS <= 300 MB.

    .venv/bin/python benchmarks/bench_import.py              # 1,000,000 rows
    .venv/bin/python benchmarks/bench_import.py --rows 100000
    .venv/bin/python benchmarks/bench_import.py --quick      # 20,000 rows
    .venv/bin/python benchmarks/bench_import.py --no-postgres

PostgreSQL: a fresh schema in ``--pg-url`` (default the local ``test`` database), dropped afterwards.
The last line printed is JSON with every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Date, DateTime, String, Text, create_engine, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from stdnum.cn import ric, uscc

from socialcredit.catalogue import default_catalogue

HERE = Path(__file__).resolve().parent
CLI = str(Path(sys.executable).with_name("socialcredit"))
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REGIONS = ("110105", "310104", "440305", "350102", "510107", "330106", "420102", "210102")
_ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _org_code(n: int) -> str:
    body = f"{n:08d}"[-8:]
    total = sum(_ORG_ALPHABET.index(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def org_id(n: int) -> str:
    body = "91" + REGIONS[n % len(REGIONS)] + _org_code(n)
    return body + uscc.calc_check_digit(body)


def person_id(n: int) -> str:
    # Distinct for n < 8 regions x 10,000 days x 1,000 sequence numbers; everyone born 1950-1977 (adults).
    day = dt.date(1950, 1, 1) + dt.timedelta(days=(n // 1000) % 10_000)
    body = f"{REGIONS[(n // 10_000_000) % len(REGIONS)]}{day:%Y%m%d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def generate(n: int) -> Iterator[dict[str, Any]]:
    """Deterministic valid rows: persons and organisations spread over every category of the catalogue."""
    cat = default_catalogue()
    plans = [(code, c.authorities[0], c.subject_kinds) for code, c in sorted(cat.categories.items())]
    for i in range(n):
        code, authority, kinds = plans[i % len(plans)]
        kind = kinds[(i // len(plans)) % len(kinds)]
        decided = dt.date(2020, 1, 1) + dt.timedelta(days=i % 1500)
        row: dict[str, Any] = {
            "external_id": f"BENCH-{i:08d}",
            "authority": authority,
            "category": code,
            "decision_no": f"({decided.year})京0105执{i}号",
            "decided_on": decided.isoformat(),
            "summary": "未履行生效法律文书确定的给付义务",
        }
        if kind == "person":
            row.update(subject_id=person_id(i), subject_name=f"张{i % 997}")
        else:
            row.update(
                subject_id=org_id(i),
                subject_name=f"北京示例{i}有限公司",
                legal_representative_id=person_id(i + 50_000_000),
                legal_representative_name=f"李{i % 991}",
            )
        yield row


def write_file(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in generate(n):
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


class _Base(DeclarativeBase):
    pass


class _Record(_Base):
    """Tiny ORM mappings for the baseline: the same four rows per record that the registry writes."""

    __tablename__ = "bench_orm_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    authority: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    category: Mapped[str] = mapped_column(String(120))
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    subject_name: Mapped[str] = mapped_column(String(300))
    decision_no: Mapped[str] = mapped_column(String(200))
    decided_on: Mapped[dt.date] = mapped_column(Date)
    summary: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class _Event(_Base):
    __tablename__ = "bench_orm_events"
    seq: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime)


class _Outbox(_Base):
    """As the registry's outbox row: it points at its event (the payload is derived when read, decision 0104)."""

    __tablename__ = "bench_orm_outbox"
    seq: Mapped[int] = mapped_column(primary_key=True)
    event_seq: Mapped[int] = mapped_column(unique=True)
    record_id: Mapped[int] = mapped_column()
    type: Mapped[str] = mapped_column(String(32))
    subject_ids: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class _Subject(_Base):
    __tablename__ = "bench_orm_subjects"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))


def orm_baseline(url: str, n: int, same_rows: bool) -> float:
    """rows/s of plain ORM session.add() per row, one commit at the end, no checks.

    ``same_rows``: a record, its event (state as JSON), an outbox row and its subject, as the registry writes;
    otherwise one narrow record row only.
    """
    engine = create_engine(url)
    _Base.metadata.drop_all(engine)
    _Base.metadata.create_all(engine)
    rows = list(generate(n))
    started = time.perf_counter()
    with Session(engine) as session:
        for i, r in enumerate(rows, start=1):
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            session.add(
                _Record(
                    id=i,
                    authority=r["authority"],
                    external_id=r["external_id"],
                    category=r["category"],
                    subject_id=r["subject_id"],
                    subject_name=r["subject_name"],
                    decision_no=r["decision_no"],
                    decided_on=dt.date.fromisoformat(r["decided_on"]),
                    summary=r["summary"],
                    created_at=now,
                )
            )
            if same_rows:
                body = json.dumps(r, ensure_ascii=False)
                session.add(_Event(seq=i, record_id=i, state=body, recorded_at=now))
                ids = json.dumps([r["subject_id"]])
                session.add(
                    _Outbox(seq=i, event_seq=i, record_id=i, type="filed", subject_ids=ids, created_at=now)
                )
                session.add(_Subject(id=r["subject_id"], name=r["subject_name"]))
        session.commit()
    secs = time.perf_counter() - started
    _Base.metadata.drop_all(engine)
    engine.dispose()
    return n / secs


def _pss_kb(pid: int) -> int:
    """Proportional set size: pages shared between processes (libraries) counted once."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _tree_rss_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of ``pid`` and all its descendants (worker processes included), from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {pid}, [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier.extend(kids)
    return sum(rss.get(p, 0) for p in tree), sum(_pss_kb(p) for p in tree)


def run_import(url: str, path: Path) -> dict[str, Any]:
    """Run ``socialcredit import`` as its own process, under /usr/bin/time for its peak RSS.

    (Not this process's RUSAGE_CHILDREN or wait4: on Linux a child's ru_maxrss starts from the high-water mark
    of the process it was forked from, and this one holds the generated rows.) A sampler adds up the RSS of
    the import and its worker processes every half second.
    """
    env = dict(os.environ, SOCIALCREDIT_DATABASE_URL=url)
    subprocess.run([CLI, "init"], env=env, check=True, capture_output=True)
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = Path(tmp) / "rss"
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        cmd = [CLI, "import", str(path), "--no-progress"]
        if Path("/usr/bin/time").exists():
            cmd = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *cmd]
        started = time.perf_counter()
        with out.open("w") as o, err.open("w") as e:
            proc = subprocess.Popen(cmd, env=env, stdout=o, stderr=e)
            tree_peak = [0, 0]
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.5):
                    rss, pss = _tree_rss_kb(proc.pid)
                    tree_peak[0] = max(tree_peak[0], rss)
                    tree_peak[1] = max(tree_peak[1], pss)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            code = proc.wait()
            done.set()
            sampler.join()
        secs = time.perf_counter() - started
        if code != 0:
            raise SystemExit(f"import failed ({code}): {err.read_text()[-2000:]}")
        peak_kb = int(rss_file.read_text().split()[-1]) if rss_file.exists() else 0
        return {
            "seconds": round(secs, 2),
            "peak_rss_mb": round(peak_kb / 1024, 1),
            "peak_rss_all_processes_mb": round(tree_peak[0] / 1024, 1),
            "peak_pss_all_processes_mb": round(tree_peak[1] / 1024, 1),
            "output": out.read_text().strip(),
        }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows to generate and import")
    ap.add_argument("--quick", action="store_true", help="20,000 rows")
    ap.add_argument("--baseline-rows", type=int, default=20_000)
    ap.add_argument("--pg-url", default=PG_URL)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    args = ap.parse_args(argv)
    n = 20_000 if args.quick else args.rows
    figures: dict[str, Any] = {"rows": n, "nproc": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp:
        data = Path(tmp) / "records.jsonl"
        t0 = time.perf_counter()
        write_file(data, n)
        print(
            f"generated {n:,} rows ({data.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f}s",
            flush=True,
        )
        targets: list[tuple[str, str, str | None]] = []
        if not args.no_sqlite:
            targets.append(("sqlite", f"sqlite:///{tmp}/bench.db", None))
        if not args.no_postgres:
            schema = f"bench_import_{os.getpid()}"
            sep = "&" if "?" in args.pg_url else "?"
            targets.append(("postgresql", f"{args.pg_url}{sep}options=-csearch_path%3D{schema}", schema))
        for name, url, schema in targets:
            admin = create_engine(args.pg_url) if schema else None
            if admin is not None:
                with admin.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    conn.execute(text(f"CREATE SCHEMA {schema}"))
            sample = min(args.baseline_rows, n)
            try:
                res = run_import(url, data)
                rate = n / res["seconds"]
                base_same = orm_baseline(url, sample, same_rows=True)
                base_narrow = orm_baseline(url, sample, same_rows=False)
            finally:
                if admin is not None:
                    with admin.begin() as conn:
                        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    admin.dispose()
            figures[name] = {
                "import_rows_per_s": round(rate),
                "import_seconds": res["seconds"],
                "peak_rss_mb": res["peak_rss_mb"],
                "peak_rss_all_processes_mb": res["peak_rss_all_processes_mb"],
                "peak_pss_all_processes_mb": res["peak_pss_all_processes_mb"],
                "orm_same_rows_rows_per_s": round(base_same),
                "orm_one_row_rows_per_s": round(base_narrow),
            }
            fast = rate >= 20_000
            # Memory: the import process and its workers, all counted.
            small = max(res["peak_rss_mb"], res["peak_rss_all_processes_mb"]) <= 300
            print(
                f"{name:10s} import: {rate:>9,.0f} rows/s  peak RSS {res['peak_rss_mb']:.1f} MB "
                f"(import process; {res['peak_rss_all_processes_mb']:.1f} MB RSS, "
                f"{res['peak_pss_all_processes_mb']:.1f} MB PSS with its workers)  "
                f"({res['seconds']:.1f}s)  rate {'meets' if fast else 'MISSES'} the goal (>=20,000 rows/s), "
                f"memory {'meets' if small else 'MISSES'} it (<=300 MB)"
            )
            print(
                f"{name:10s} baseline ORM session.add() per row, no checks: {base_same:>9,.0f} rows/s "
                f"writing the same four rows per record; {base_narrow:,.0f} rows/s writing one narrow row "
                f"(sample of {sample:,})",
                flush=True,
            )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
