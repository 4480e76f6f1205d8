"""Credit reports a machine can verify (issue 18 §3, decision 0605): content, signing, PDF, verification."""

from .content import PERIOD_YEARS, SubjectNotFound, build_report
from .fonts import FontMissing
from .issue import Issued, issue_report
from .verify import BadReport, Verdict, parse_upload, status_by_number, verify_envelope

__all__ = [
    "PERIOD_YEARS",
    "BadReport",
    "FontMissing",
    "Issued",
    "SubjectNotFound",
    "Verdict",
    "build_report",
    "issue_report",
    "parse_upload",
    "status_by_number",
    "verify_envelope",
]
