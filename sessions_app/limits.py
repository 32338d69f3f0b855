"""Concurrency limits: SESSIONS_MAX_ACTIVE and SESSIONS_MAX_ACTIVE_PER_COMPANY.

Counting active sessions and inserting a new one must be one step, or two
processes starting at once both see room for one more. Starts take a lock in
the registry database for the length of that transaction: an advisory lock on
PostgreSQL, the write lock (``BEGIN IMMEDIATE``) on SQLite.
"""

from contextlib import contextmanager

from .conf import app_settings
from .exceptions import SessionStartError
from .models import BackgroundSession
from .transactions import serialized

START_LOCK_KEY = 0x5E55_10  # the advisory lock id starts serialise on


def limits_set() -> bool:
    return app_settings.MAX_ACTIVE is not None or app_settings.MAX_ACTIVE_PER_COMPANY is not None


@contextmanager
def start_lock(alias: str):
    """When limits are set, an atomic block on ``alias`` that no other start can run beside; else nothing."""
    if not limits_set():
        yield  # the start's one insert is its own transaction
        return
    with serialized(alias, START_LOCK_KEY):
        yield


def check(company: str, adding: int = 1) -> None:
    """Raise ``SessionStartError("limit_reached")`` if ``adding`` more sessions would exceed a limit."""
    if not limits_set():
        return
    active = BackgroundSession.objects.active()
    limit = app_settings.MAX_ACTIVE
    if limit is not None and active.count() + adding > limit:
        raise SessionStartError("limit_reached", f"{limit} sessions are active already (SESSIONS_MAX_ACTIVE).")
    limit = app_settings.company_limit(company)
    if limit is not None and active.filter(company=company).count() + adding > limit:
        raise SessionStartError(
            "limit_reached",
            f"{limit} sessions are active in company {company!r} already (SESSIONS_MAX_ACTIVE_PER_COMPANY).",
        )
