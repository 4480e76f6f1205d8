"""The extract's columns: name, type, description and example, and the row of one listing.

The data dictionary is written beside every CSV and Parquet extract (``OUT.dictionary.csv``), the way SAM.gov
publishes its exclusions extract with a file of column definitions; docs/exports.md holds the same table.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any, Literal

from ..catalogue import Catalogue
from ..registry.state import local_date
from .source import Listing

__all__ = [
    "COLUMNS",
    "MEASURE_COLUMNS",
    "Column",
    "last_day",
    "measures_rows",
    "row_of",
    "write_dictionary",
    "write_measures",
]

ColumnType = Literal["string", "date", "integer"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: ColumnType
    description: str
    example: str
    nullable: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("subject_name", "string", "Name of the person or organisation, as the decision names it.", "王芳"),
    Column(
        "subject_id_masked",
        "string",
        "Identifier as the public may see it: an organisation's unified social credit code in full; a "
        "resident ID with only region (1-6) and check character kept; a passport with its country and last "
        "two characters.",
        "110105***********5",
    ),
    Column("subject_kind", "string", "person or organisation.", "person"),
    Column(
        "region",
        "string",
        "County-level region the identifier names (household registration or place of registration); empty "
        "for passports and unknown codes.",
        "北京市朝阳区",
        nullable=True,
    ),
    Column(
        "legal_representative_name",
        "string",
        "Organisations: the legal representative named in the decision (the identifier is never published).",
        "李强",
        nullable=True,
    ),
    Column("list", "string", "black (joint punishment) or red (joint reward).", "black"),
    Column(
        "category",
        "string",
        "Category code of the catalogue (GET /v1/catalogue).",
        "court.judgment_defaulter",
    ),
    Column("category_title", "string", "Category title, as the catalogue names it.", "失信被执行人"),
    Column("authority", "string", "Name of the authority that decided.", "人民法院"),
    Column("authority_code", "string", "Authority code of the catalogue.", "court"),
    Column(
        "decision_no",
        "string",
        "Number of the decision (the case number the SPC provisions publish).",
        "(2024)京0105执100号",
    ),
    Column("decided_on", "date", "Date of the decision (YYYY-MM-DD).", "2025-06-01"),
    Column("effective_from", "date", "First day in force (China Standard Time).", "2025-06-01"),
    Column(
        "effective_until",
        "date",
        "Last day in force (China Standard Time); empty while the record lasts until the obligation is met.",
        "2027-05-31",
        nullable=True,
    ),
    Column("legal_basis", "string", "Legal basis the decision states.", "民事诉讼法 第二百六十六条"),
    Column(
        "memoranda",
        "string",
        "Codes of the memoranda and other documents whose measures the category triggers, separated by |; "
        "their measures are listed in OUT.measures.csv.",
        "ndrc_2016_141",
        nullable=True,
    ),
    Column("measure_count", "integer", "Number of measures those documents attach to the category.", "36"),
    Column(
        "effects",
        "string",
        "Distinct effects of those measures (deny, restrict, review, expedite), |-separated.",
        "deny|restrict",
        nullable=True,
    ),
)

MEASURE_COLUMNS = (
    "category",
    "memorandum",
    "document_no",
    "measure",
    "title",
    "department",
    "effect",
    "applies_to",
    "legal_basis",
)


def last_day(until: dt.datetime | None) -> dt.date | None:
    # Stored ends are the instant after the last day in force; the extract names the last day itself.
    return None if until is None else local_date(until) - dt.timedelta(days=1)


def row_of(item: Listing) -> tuple[Any, ...]:
    """The listing's values in the order of :data:`COLUMNS` (dates as ``datetime.date``)."""
    s = item.state
    measures = [m for doc in item.memoranda for m in doc.measures]
    effects = sorted({m.effect for m in measures})
    return (
        s.subject_name,
        item.masked_id,
        item.kind,
        item.region,
        s.legal_representative_name if item.kind == "organisation" else None,
        item.category.list,
        s.category,
        item.category.title,
        item.authority.name if item.authority else s.authority,
        s.authority,
        s.decision_no,
        s.decided_on,
        local_date(s.effective_from),
        last_day(s.valid_until),
        s.legal_basis,
        "|".join(doc.code for doc in item.memoranda) or None,
        len(measures),
        "|".join(effects) or None,
    )


def write_dictionary(out: IO[str]) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(("column", "type", "nullable", "description", "example"))
    for c in COLUMNS:
        w.writerow((c.name, c.type, "yes" if c.nullable else "no", c.description, c.example))


def measures_rows(catalogue: Catalogue) -> list[tuple[str, ...]]:
    """Every public category's measures, a row each (the extract names only their documents and count)."""
    out: list[tuple[str, ...]] = []
    for code, cat in catalogue.categories.items():
        if not cat.public:
            continue
        for doc in catalogue.memoranda.values():
            if code not in doc.triggers:
                continue
            for m in doc.measures:
                out.append(
                    (
                        code,
                        doc.code,
                        doc.document_no or "",
                        m.code,
                        m.title,
                        m.department,
                        m.effect,
                        "|".join(m.applies_to),
                        m.legal_basis,
                    )
                )
    return out


def write_measures(out: IO[str], rows: Sequence[tuple[str, ...]]) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(MEASURE_COLUMNS)
    w.writerows(rows)
