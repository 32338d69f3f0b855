"""Transactions that take the write lock when they begin, and what waiting for a lock looks like.

How long a writer waits, and in what order, differs by database; the
differences live here (and the line itself in ``turns.py``).
"""

import math
import select
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack, contextmanager

from django.db import OperationalError, connections, transaction

from . import turns

HEALTHY_FOR = 1.0
"""Seconds a connection that has just served a session is taken for alive without a health check."""
_served: dict[str, float] = {}


def served(aliases: Iterable[str]) -> None:
    """Note that the connections of ``aliases`` have just served a session (``trust_recent``)."""
    now = time.monotonic()
    _served.update(dict.fromkeys(aliases, now))


def trust_recent() -> None:
    """Skip Django's health check on a connection that served a session less than ``HEALTHY_FOR`` seconds ago.

    django-q2 closes "old" connections before every task, and with
    ``CONN_HEALTH_CHECKS`` Django then checks each connection on its next use:
    a ``SELECT 1``, a round trip and a transaction of its own, twice per
    session. One that worked a moment ago and has heard nothing since is
    alive: a server that ends a connection says so on its socket first
    (``_quiet``). One that sat idle, whose last use raised, or whose server
    spoke unasked is checked as before.
    """
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        if (
            conn.connection is not None
            and conn.health_check_enabled
            and not conn.errors_occurred
            and now - _served.get(conn.alias, -math.inf) < HEALTHY_FOR
            and _quiet(conn.connection)
        ):
            conn.health_check_done = True


def _quiet(raw) -> bool:
    """Has nothing arrived on an idle connection's socket unasked? (Terminated: a goodbye, or the socket closed.)"""
    fileno = getattr(raw, "fileno", None)
    if fileno is None:
        return False
    try:
        readable, _, _ = select.select([fileno()], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def is_lock_wait(error: BaseException) -> bool:
    """Did ``error`` come from waiting for a lock (SQLite's busy timeout, PostgreSQL's ``lock_timeout``)?"""
    cause = error.__cause__ or error
    if getattr(cause, "sqlstate", None) == "55P03":  # PostgreSQL lock_not_available
        return True
    return isinstance(error, OperationalError) and "database is locked" in str(error).lower()


@contextmanager
def _immediate(conn):
    """On SQLite, make the next ``BEGIN`` of ``conn`` a ``BEGIN IMMEDIATE``."""
    conn.ensure_connection()
    previous = conn.transaction_mode
    conn.transaction_mode = "IMMEDIATE"
    try:
        yield
    finally:
        conn.transaction_mode = previous


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
    with _immediate(conn), transaction.atomic(using=alias):
        yield


@contextmanager
def serialized(alias: str, key: int):
    """``write_atomic`` that no other block serialized on ``key`` runs beside: a count, then a write, as one step.

    PostgreSQL: a transaction-level advisory lock on ``key``. SQLite: the
    write lock its immediate transaction holds already serialises every writer.
    """
    with write_atomic(alias):
        conn = connections[alias]
        if conn.vendor == "postgresql":
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
        yield


@contextmanager
def atomic_in_turn(alias: str, *, give_up: Callable[[], None] | None = None):
    """An atomic block that waits its turn for the write lock, as long as it takes: a session's transaction.

    On PostgreSQL writers do not wait for each other to begin: a plain atomic
    block. On SQLite one writer at a time holds the file: the session takes
    its place in the company's line (``turns``), so sessions begin in the
    order they came, then begins with ``BEGIN IMMEDIATE``, trying again for
    as long as another writer (a web request, a command) keeps the lock.
    ``give_up()`` is called between tries and raises to stop waiting; without
    it the wait blocks (a worker's watcher ends the process instead).
    """
    conn = connections[alias]
    if conn.vendor != "sqlite" or conn.in_atomic_block:
        with transaction.atomic(using=alias):
            yield
        return
    with ExitStack() as stack:
        path = conn.settings_dict["NAME"]
        if turns.available() and not conn.is_in_memory_db():
            stack.enter_context(turns.place_in_line(f"{path}-sessions-line", give_up=give_up))
        while True:
            try:
                with _immediate(conn):
                    stack.enter_context(transaction.atomic(using=alias))
                break
            except OperationalError as e:
                if not is_lock_wait(e):
                    raise
                if give_up is not None:
                    give_up()
        yield
