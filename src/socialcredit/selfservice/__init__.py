"""Subject self-service: portal sessions opened with a subject key, and evidence files attached to objections
and repair requests (issue 18 point 2, decision 0615)."""

from .evidence import (
    MEDIA_TYPES,
    EvidenceInvalid,
    EvidenceUpload,
    attach,
    check_upload,
    clean_name,
    evidence_for,
    get_evidence,
    sniff,
)
from .sessions import SubjectSession, session_for, sign_in, sign_out

__all__ = [
    "MEDIA_TYPES",
    "EvidenceInvalid",
    "EvidenceUpload",
    "SubjectSession",
    "attach",
    "check_upload",
    "clean_name",
    "evidence_for",
    "get_evidence",
    "session_for",
    "sign_in",
    "sign_out",
    "sniff",
]
