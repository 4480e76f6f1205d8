"""The catalogue's data model: what a lawyer writes in YAML, as typed, frozen objects.

The YAML files of a catalogue directory:

* ``catalogue.yaml``: ``version`` and ``title``;
* ``authorities.yaml``: authorities and departments, by code;
* ``actions.yaml``: the dotted action vocabulary and the ``protected`` prefixes;
* ``categories.yaml``: record categories (which list, who files, legal basis, end, due process);
* ``memoranda/*.yaml``: one memorandum (or other source of measures) a file, with its measures.

Every field is checked by pydantic (``extra="forbid"``: a misspelt key is an error); cross-references and the
rule-of-law lints are checked in :mod:`socialcredit.catalogue.lint`. docs/catalogue.md explains each field.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Action",
    "Authority",
    "Category",
    "DocumentKind",
    "Effect",
    "GradeCondition",
    "ListKind",
    "Measure",
    "Memorandum",
    "Objection",
    "Publication",
    "Reach",
    "Severity",
    "SubjectKindName",
    "TermFrom",
    "Unverifiable",
]

ListKind = Literal["black", "red", "watch"]
Effect = Literal["deny", "restrict", "review", "expedite"]
Reach = Literal["subject", "legal_representative", "actual_controller"]
Severity = Literal["minor", "general", "serious"]
SubjectKindName = Literal["person", "organisation"]
# What kind of document a "memorandum" file models: most are joint memoranda, but some measures come straight
# from a law, a judicial interpretation or a State Council/NDRC opinion (docs/decisions/0102).
DocumentKind = Literal["memorandum", "opinion", "law", "judicial_interpretation", "regulation"]
Unverifiable = Literal["date", "document_no"]
TermFrom = Literal["effective_from", "notice_end"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Authority(_Strict):
    """A public body that files records or a department that applies measures."""

    code: str = ""
    name: str = Field(min_length=1)
    name_en: str | None = None
    # The authority that hears reconsideration of this one's decisions, if any.
    parent: str | None = None
    # Predecessor bodies that signed older memoranda (e.g. CBRC and CIRC for NFRA).
    formerly: str | None = None
    source: str | None = None


class Action(_Strict):
    """A thing a checkpoint may be asked about; a measure on a prefix covers every action below it."""

    code: str = ""
    title: str = Field(min_length=1)
    title_zh: str | None = None  # the portal shows both languages


class Publication(_Strict):
    """NDRC Order 36: publication runs from the decision date; repair only after ``min_days``."""

    min_days: int = Field(ge=0)
    max_days: int = Field(ge=1)


class Objection(_Strict):
    """How an objection to a record of this category is handled."""

    days: int = Field(ge=1)
    # Deadline counted in working days (flight and train lists) or calendar days (courts).
    working_days: bool = False
    # Whether measures are suspended while an objection is pending (the defaulter list: not suspended).
    suspends: bool = False
    # Days the authority has to decide an objection, where a rule sets it (SPC art. 12: 15 days).
    decision_days: int | None = Field(default=None, ge=1)
    # Whether the next-higher authority reconsiders a rejected objection.
    reconsideration: bool = False
    reconsideration_days: int = Field(default=10, ge=1)
    legal_basis: str | None = None


class Category(_Strict):
    """A kind of record: which list, who may file it, on what basis, and how it ends."""

    code: str = ""
    list: ListKind
    title: str = Field(min_length=1)
    title_en: str | None = None
    authorities: tuple[str, ...] = Field(min_length=1)
    subject_kinds: tuple[SubjectKindName, ...] = Field(min_length=1)
    legal_basis: str = ""
    # The published listing criteria (国办发〔2020〕49号: criteria are published with removal conditions).
    criteria: str | None = None
    # When and how a record is removed early (deletion, repair), in words.
    removal: str | None = None
    removal_zh: str | None = None
    # Default duration in days from effective_from; None only if the record ends by fulfilment.
    duration_days: int | None = Field(default=None, ge=1)
    # The record ends when the obligation is fulfilled; max_duration_days bounds it (lint requires one).
    ends_by_fulfilment: bool = False
    max_duration_days: int | None = Field(default=None, ge=1)
    # Days between filing and the measures applying, when takes_effect_at_once is false (a notice period).
    notice_days: int = Field(default=0, ge=0)
    # notice_days counts working days (flight and train lists: 7 working days of public notice).
    notice_working_days: bool = False
    # Measures apply from effective_from even during notice (e.g. court orders).
    takes_effect_at_once: bool = True
    # Where the default term (duration_days) and the publication periods are counted from: the decision
    # (effective_from), or the end of the notice period, when the measures begin (flight and train bans: the
    # year runs from the end of the 7 working days of public notice; decision 0100).
    term_from: TermFrom = "effective_from"
    severity: Severity = "general"
    publication: Publication | None = None
    public: bool = True
    objection: Objection = Objection(days=15)
    source: str = ""


class GradeCondition(_Strict):
    """A measure that applies on a scoring model's grade instead of on a record (decision 1003): the grade of
    ``model`` (a code of ``models/``) being one of ``grades``."""

    model: str = Field(min_length=1)
    grades: tuple[str, ...] = Field(min_length=1)


class Measure(_Strict):
    """One consequence of a memorandum: a department applies an effect to actions, on a legal basis."""

    code: str = Field(min_length=1)
    title: str = Field(min_length=1)
    title_zh: str | None = None  # the portal shows both languages
    department: str = ""
    actions: tuple[str, ...] = Field(min_length=1)
    effect: Effect
    applies_to: tuple[Reach, ...] = ("subject",)
    legal_basis: str = ""
    # Where in the source document the measure is (part, item), when known.
    source: str | None = None
    # Limits a checkpoint must know (e.g. the court may allow spending from genuinely personal property).
    note: str | None = None
    # Applies where the subject's grade under a model is one of these grades, not on a record; only in a
    # document without triggers (decision 1003).
    grade_condition: GradeCondition | None = None


class Memorandum(_Strict):
    """A joint reward or punishment memorandum: trigger categories turn into measures (or, with no triggers,
    a document whose every measure is conditioned on a grade: decision 1003)."""

    code: str = Field(min_length=1)
    kind: DocumentKind = "memorandum"
    title: str = Field(min_length=1)
    title_en: str | None = None
    document_no: str | None = None
    date: dt.date
    # Facts not yet checked against the official text ("date": the day; "document_no": the number); shown as
    # uncertain wherever the document is named (portal, /v1/catalogue, `catalogue show`).
    unverified: tuple[Unverifiable, ...] = ()
    # Signing departments modelled here; a measure's department must be one of them (when listed).
    signatories: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()
    source: str = ""
    measures: tuple[Measure, ...] = Field(min_length=1)
