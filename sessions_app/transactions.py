"""``write_atomic``: an atomic block that takes the write lock when it begins."""

from contextlib import contextmanager

from django.db import connections, transaction


@contextmanager
def write_atomic(alias: str):
    """``transaction.atomic(using=alias)``; on SQLite, begun with ``BEGIN IMMEDIATE``.

    A deferred SQLite transaction that reads and then writes fails at once
    with "database is locked" when another writer got in between; an
    immediate one waits its turn (up to the busy timeout) instead. Callers'
    own transactions stay deferred, so they never hold the lock just by opening.
    """
    conn = connections[alias]
    if conn.vendor != "sqlite" or conn.in_atomic_block:
        with transaction.atomic(using=alias):
            yield
        return
    conn.ensure_connection()
    previous = conn.transaction_mode
    conn.transaction_mode = "IMMEDIATE"
    try:
        with transaction.atomic(using=alias):
            yield
    finally:
        conn.transaction_mode = previous
