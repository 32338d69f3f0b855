"""The fence: a session's outcome is decided in the database its work goes to.

The registry and a company database cannot commit together, so the registry
never decides on its own whether a session's work was committed. The runner
inserts a ``committed`` row (``SessionFence``, stage ``run``) inside the
codeunit's own transaction: it exists exactly when the work is committed.
Whoever wants to declare a session lost or stopped from outside first inserts
a ``void`` row under the same key (``void``): once that succeeds, the
session's transaction can never commit, because its own insert would break
the unique key. While the session's transaction is still alive, the ``void``
insert waits on it (its lock on the key on PostgreSQL, its write lock on
SQLite) and gives up after a short wait: alive means not lost. On SQLite the
write lock may be any writer's, and a transaction lives and commits inside
its own process: when that process is known to be gone, its session is void
whoever holds the lock (``holder_gone``).

The same two rows answer "did the caller commit?" for ``on_commit=True``
(stage ``start``), written in the caller's own transaction.
"""

import logging
from dataclasses import dataclass

from django.db import DatabaseError, IntegrityError, OperationalError, connections, transaction
from django.utils import timezone

from . import statements
from .models import SessionFence
from .transactions import atomic_in_turn, is_lock_wait

logger = logging.getLogger("sessions_app")

START = SessionFence.Stage.START
RUN = SessionFence.Stage.RUN
COMMITTED = SessionFence.Outcome.COMMITTED
VOID = SessionFence.Outcome.VOID
BUSY = "busy"
"""The fenced transaction is still open: nothing can be decided yet."""

LOCK_WAIT_MS = 500  # how long ``void`` waits for a transaction that holds the key or the write lock


@dataclass(frozen=True)
class Verdict:
    outcome: str  # COMMITTED, VOID or BUSY
    result: object = None
    at: object = None


def _fences(alias: str):
    return SessionFence.objects.using(alias)


def commit(alias: str, session_uuid, stage: str, result=None) -> None:
    """Insert the ``committed`` row in the transaction open on ``alias``.

    Raise ``IntegrityError`` if the session was voided: the transaction must
    then roll back.
    """
    statements.insert(
        alias, SessionFence, session_uuid=session_uuid, stage=stage, outcome=COMMITTED, result=result, at=timezone.now()
    )


def read(alias: str, session_uuid, stage: str) -> Verdict | None:
    """Return the committed verdict for the session, or ``None`` if there is no row yet."""
    row = _fences(alias).filter(session_uuid=session_uuid, stage=stage).values("outcome", "result", "at").first()
    return None if row is None else Verdict(row["outcome"], row["result"], row["at"])


def void(alias: str, session_uuid, stage: str, *, holder_gone: bool = False) -> Verdict:
    """Make sure the session's transaction on ``alias`` can never commit, unless it already has.

    Return ``VOID`` (it never will commit), ``COMMITTED`` (it had; with its
    result) or ``BUSY`` (its transaction may still be open). Must be called
    outside any transaction on ``alias``.

    ``holder_gone``: the process that ran the transaction no longer exists. On
    SQLite nothing can then commit for it, so another writer's lock decides
    nothing: ``VOID`` (the row itself goes in at a later look, or never, which
    is the same). A PostgreSQL server may still be committing what a dead
    client sent last, so there the row must go in.
    """
    conn = connections[alias]
    if conn.in_atomic_block:
        raise RuntimeError(f"fence.void() inside a transaction on {alias!r} would wait for itself.")
    existing = read(alias, session_uuid, stage)
    if existing is not None:
        return existing
    try:
        with _short_lock_wait(conn), transaction.atomic(using=alias):
            if conn.vendor == "postgresql":
                with conn.cursor() as cursor:
                    cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT_MS}ms'")
            _fences(alias).create(session_uuid=session_uuid, stage=stage, outcome=VOID)
    except IntegrityError:
        existing = read(alias, session_uuid, stage)
        return existing if existing is not None else Verdict(BUSY)
    except OperationalError as e:
        if not is_lock_wait(e):
            raise
        if holder_gone and conn.vendor == "sqlite":
            logger.info("session %s: its process is gone; %s's write lock is another writer's", session_uuid, alias)
            return Verdict(VOID)
        return Verdict(BUSY)
    return Verdict(VOID)


class _short_lock_wait:
    """On SQLite, wait at most ``LOCK_WAIT_MS`` for the write lock instead of the connection's busy timeout."""

    def __init__(self, conn):
        self.conn = conn
        self.previous = None

    def __enter__(self):
        if self.conn.vendor == "sqlite":
            self.conn.ensure_connection()
            with self.conn.cursor() as cursor:
                self.previous = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
                cursor.execute(f"PRAGMA busy_timeout = {LOCK_WAIT_MS}")
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            try:
                with self.conn.cursor() as cursor:
                    cursor.execute(f"PRAGMA busy_timeout = {int(self.previous)}")
            except DatabaseError:
                logger.debug("could not restore the busy timeout of %s", self.conn.alias, exc_info=True)
        return False


PRUNE_BATCH = 1000


def prune(alias: str, before) -> int:
    """Delete fence rows older than ``before`` on ``alias``; return how many.

    In batches, each waiting its turn for the write lock as a session does, so
    that neither side fails for the other on SQLite.
    """
    total = 0
    while True:
        with atomic_in_turn(alias):
            ids = list(_fences(alias).filter(at__lt=before).values_list("id", flat=True)[:PRUNE_BATCH])
            if ids:
                total += _fences(alias).filter(id__in=ids).delete()[0]
        if len(ids) < PRUNE_BATCH:
            return total
