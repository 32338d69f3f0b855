"""Which errors are worth trying again: ``RetriableError``, transient database failures, a first loss.

A deadlock, a serialization failure or a lost connection says nothing about
the codeunit's logic; the same work will usually pass a moment later.
"""

from django.db import InterfaceError, OperationalError

from .exceptions import RetriableError

# PostgreSQL SQLSTATEs: serialization_failure, deadlock_detected, admin/crash shutdown,
# cannot_connect_now, too_many_connections; class 08 is every connection exception.
RETRIABLE_SQLSTATES = {"40001", "40P01", "57P01", "57P02", "57P03", "53300"}
SQLITE_BUSY_MESSAGES = ("database is locked", "database table is locked")


def is_retriable(exc: BaseException) -> bool:
    if isinstance(exc, RetriableError):
        return True
    for error in (exc, exc.__cause__):
        if error is None:
            continue
        if isinstance(error, InterfaceError) or type(error).__name__ == "InterfaceError":
            return True  # the connection was closed under the codeunit
        sqlstate = getattr(error, "sqlstate", None)
        if sqlstate is not None and (sqlstate in RETRIABLE_SQLSTATES or sqlstate.startswith("08")):
            return True
        if type(error).__module__.startswith("psycopg") and type(error).__name__ == "OperationalError":
            return sqlstate is None  # psycopg reports a broken connection without a SQLSTATE
        if isinstance(error, OperationalError) and any(m in str(error).lower() for m in SQLITE_BUSY_MESSAGES):
            return True
    return False


def error_type(exc: BaseException) -> str:
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


def died_twice(earlier_session_id: int, session_id: int) -> str:
    """Why work whose worker died again is not tried a third time: once more, after a loss, is the rule.

    A worker that dies on the same work twice (a crashing extension, an
    out-of-memory kill) dies every time: whoever owns the retry stops here.
    """
    return f"Not run again: its worker died twice (sessions {earlier_session_id} and {session_id})."
