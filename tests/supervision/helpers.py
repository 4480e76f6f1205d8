"""A registry of firms in each SAMR risk class, and inspectors' files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from factories import org_id, row
from socialcredit.catalogue import Catalogue
from socialcredit.registry import check_row, file_batch
from socialcredit.store import Database

# tax.major_violation applies after 5 days of notice.
AT = dt.timedelta(days=6)
# Firms per class: A a red record (105), B a watch record (80), C one serious black record (45), D two (-10).
SIZES = {"A": 100, "B": 40, "C": 30, "D": 20}
FIRST = {"A": 1, "B": 1001, "C": 2001, "D": 3001}


def firm(cls: str, i: int, region: str = "110105") -> str:
    return org_id(FIRST[cls] + i, region)


def populate(db: Database, catalogue: Catalogue, now: dt.datetime, sizes: dict[str, int] = SIZES) -> None:
    rows = []
    for cls, n in sizes.items():
        for i in range(n):
            region = "110105" if i % 2 else "310101"
            sid = firm(cls, i, region)
            base = {"subject_id": sid, "subject_name": f"{cls}公司{i}", "decided_on": "2026-11-01"}
            if cls == "A":
                rows.append(row(**base, authority="sta", category="tax.a_grade", external_id=f"a-{i}"))
            elif cls == "B":
                rows.append(
                    row(**base, authority="ndrc", category="credit.key_attention", external_id=f"b-{i}")
                )
            else:
                for k in range(1 if cls == "C" else 2):
                    ext = f"{cls}-{i}-{k}"
                    rows.append(row(**base, authority="sta", category="tax.major_violation", external_id=ext))
    with db.engine.begin() as conn:
        file_batch(conn, [check_row(r, catalogue, now) for r in rows], catalogue, "test", now)


def inspectors(tmp: Path, text: str | None = None, n: int = 6) -> Path:
    path = tmp / "inspectors.csv"
    if text is None:
        lines = ["id,name,authority,conflicts"] + [f"I{k:02d},检查员{k},samr," for k in range(n)]
        lines.append("C01,法官,court,")
        text = "\n".join(lines) + "\n"
    path.write_text(text, encoding="utf-8")
    return path
