"""Due process: notice, objections and reconsideration, credit repair, fulfilment, expiry, publication."""

from ..workdays import add_working_days, deadline, is_working_day
from .errors import NotAllowed, ProcessInvalid
from .expiry import expire_due
from .objections import (
    CORRECTABLE,
    decide_objection,
    file_objection,
    get_objection,
    list_objections,
    may_act_for,
    request_reconsideration,
)
from .publication import is_published, publication_ends
from .repair import decide_repair, fulfil, get_repair, list_repairs, repair_eligible_from, request_repair

__all__ = [
    "CORRECTABLE",
    "NotAllowed",
    "ProcessInvalid",
    "add_working_days",
    "deadline",
    "decide_objection",
    "decide_repair",
    "expire_due",
    "file_objection",
    "fulfil",
    "get_objection",
    "get_repair",
    "is_published",
    "is_working_day",
    "list_objections",
    "list_repairs",
    "may_act_for",
    "publication_ends",
    "repair_eligible_from",
    "request_reconsideration",
    "request_repair",
]
