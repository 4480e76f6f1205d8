"""The public lists as FollowTheMoney entities: the subject (Person, Company or Organization), its legal
representative (Person and Directorship, organisations only), and one Sanction per record.

Entity ids are stable across exports and never hold a person's identity number (decision 0904): an
organisation's id is its unified social credit code (public under SPC provisions art. 6); a person's, a legal
representative's and a sanction's are a keyed hash (HMAC-SHA256 under the install's lookup-hash secret), which
no one without the secret can test a guessed identity number against. A legal representative's id is scoped to
the organisation, so the export does not link them to records about them as a person, which public search does
not do either.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any, cast

from followthemoney import model
from followthemoney.exc import InvalidData
from followthemoney.proxy import EntityProxy
from followthemoney.schema import ValidationData

from ..registry.state import local_date
from .dictionary import last_day
from .output import TextOut
from .source import Listing

__all__ = ["PREFIX", "entities", "validate", "write_ftm"]

PREFIX = "socialcredit"
LEGAL_REPRESENTATIVE = "法定代表人 (legal representative)"

Tagger = Callable[[str], str]


def _subject(item: Listing, tag: Tagger) -> EntityProxy:
    s = item.state
    if item.kind == "organisation":
        # Enterprises registered with the market regulator have codes beginning 9; other issuers (government
        # bodies, social organisations) are organisations but not companies.
        e = model.make_entity("Company" if s.subject_id.startswith("9") else "Organization")
        e.id = f"{PREFIX}-uscc-{s.subject_id}"
        e.add("registrationNumber", s.subject_id)
        e.add("taxNumber", s.subject_id)  # the unified code is the organisation's taxpayer number too
        e.add("jurisdiction", "cn")
    else:
        e = model.make_entity("Person")
        e.id = f"{PREFIX}-person-{tag('person:' + s.subject_id)}"
        # No idNumber: a masked number is not an identifier, and matching tools would treat it as one.
    e.add("name", s.subject_name)
    e.add("country", "cn")
    # "debarment", not "sanction": the measures exclude (procurement, bonds, flights), like SAM.gov's exclusions, and a
    # "sanctioned" tag would make sanctions-screening tools freeze a judgment debtor's bank account (decision 0904).
    e.add("topics", "debarment")
    return e


def _representative(item: Listing, org: EntityProxy, tag: Tagger) -> list[EntityProxy]:
    s = item.state
    if item.kind != "organisation" or not s.legal_representative_name:
        return []
    key = s.legal_representative_id or "name:" + s.legal_representative_name
    person = model.make_entity("Person")
    person.id = f"{PREFIX}-person-{tag('representative:' + s.subject_id + ':' + key)}"
    person.add("name", s.legal_representative_name)
    person.add("country", "cn")
    role = model.make_entity("Directorship")
    role.id = f"{PREFIX}-directorship-{tag('directorship:' + s.subject_id + ':' + key)}"
    role.add("director", person.id)
    role.add("organization", org.id)
    role.add("role", LEGAL_REPRESENTATIVE)
    return [person, role]


def _sanction(item: Listing, subject: EntityProxy, tag: Tagger) -> EntityProxy:
    s = item.state
    cat = item.category
    e = model.make_entity("Sanction")
    e.id = f"{PREFIX}-sanction-{tag('sanction:' + s.authority + chr(31) + s.external_id)}"
    e.add("entity", subject.id)
    e.add("authority", item.authority.name if item.authority else s.authority)
    e.add("authorityId", s.decision_no)
    e.add("program", cat.title)
    e.add("programId", s.category)
    e.add("reason", cat.title_en or cat.title)
    e.add("provisions", s.legal_basis)
    for doc in item.memoranda:
        title = doc.title + (f" ({doc.document_no})" if doc.document_no else "")
        e.add("provisions", f"{title}: {len(doc.measures)} measures")
    e.add("date", s.decided_on.isoformat())
    e.add("listingDate", local_date(s.effective_from).isoformat())
    e.add("startDate", local_date(s.effective_from).isoformat())
    last = last_day(s.valid_until)
    e.add("endDate", last.isoformat() if last else None)
    e.add("status", "in force")
    e.add("country", "cn")
    if cat.source.startswith(("https://", "http://")):
        e.add("sourceUrl", cat.source)
    return e


def entities(item: Listing, tag: Tagger) -> list[EntityProxy]:
    """The listing's entities: subject, legal representative and directorship (if any), sanction."""
    subject = _subject(item, tag)
    return [subject, *_representative(item, subject, tag), _sanction(item, subject, tag)]


def validate(data: dict[str, Any]) -> None:
    """Raise InvalidData unless ``data`` is a valid entity of its schema with every required property."""
    schema = model.get(data.get("schema", ""))
    if schema is None:
        raise InvalidData(f"no such schema: {data.get('schema')!r}")
    schema.validate(cast(ValidationData, data))
    props = data.get("properties", {})
    missing = [p for p in schema.required if not props.get(p)]
    if missing or not data.get("id"):
        raise InvalidData(f"{schema.name} {data.get('id')}: missing {', '.join(missing) or 'id'}")


def write_ftm(batches: Iterable[list[Listing]], out: TextOut, tag: Tagger) -> tuple[int, int]:
    """Write FtM JSON lines (one entity a line) for the black lists' records; returns (records, entities).

    A subject with several records, and its legal representative, are written once, the first time they appear.
    """
    # What was written is remembered as 64-bit digests of ids, not entities: some 70 bytes per subject.
    seen: set[int] = set()
    records = written = 0
    for batch in batches:
        lines: list[str] = []
        for item in batch:
            if item.category.list != "black":
                # A red list (A-grade taxpayers) is a commendation: as a Sanction it would say the opposite.
                continue
            records += 1
            for e in entities(item, tag):
                if e.schema.name != "Sanction":
                    key = int.from_bytes(hashlib.blake2b(str(e.id).encode(), digest_size=8).digest())
                    if key in seen:
                        continue
                    seen.add(key)
                data = e.to_dict()
                validate(data)
                lines.append(json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n")
                written += 1
        out.write("".join(lines))
    return records, written
