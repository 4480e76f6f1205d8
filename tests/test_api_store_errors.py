"""The errors of a database that does not answer are 503s with ``Retry-After`` (decision 1104), whatever layer of
SQLAlchemy raises them; an error of the data itself is not (it is no reason to retry). The real outage, a
PostgreSQL restarted under a running server, is tests/cluster/test_store_outage.py."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from socialcredit.api.errors import DOMAIN_ERRORS, RETRY_AFTER, problem_response


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("SELECT 1", {}, Exception("connection refused")),
        InterfaceError("SELECT 1", {}, Exception("the connection is closed")),
        PoolTimeout("QueuePool limit of size 10 overflow 20 reached"),
    ],
    ids=["operational", "interface", "pool-timeout"],
)
def test_a_database_that_does_not_answer_is_a_503_with_retry_after(exc: Exception) -> None:
    (cls,) = [c for c in type(exc).__mro__ if c in DOMAIN_ERRORS][:1]
    resp = problem_response(None, DOMAIN_ERRORS[cls](exc))
    assert resp.status_code == 503 and resp.headers["retry-after"] == str(RETRY_AFTER)
    assert resp.media_type == "application/problem+json"
    assert b"connection" not in resp.body  # the driver's message (host, port) stays in the server log


def test_an_error_of_the_data_is_no_503() -> None:
    exc = IntegrityError("INSERT", {}, Exception("duplicate key"))
    assert not [c for c in type(exc).__mro__ if c in DOMAIN_ERRORS]
