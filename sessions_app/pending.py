"""On-commit starts: a pending session is queued once its caller's transactions commit, cancelled if not.

``start_session(on_commit=True)`` writes the session as ``pending`` and hands
it here with the aliases whose transactions the caller holds open. Django's
``on_commit`` callbacks are the fast path, not the proof: Django drops them,
without a word, at a rollback and when another of the caller's callbacks
raises. The proof is a ``start`` fence row written in each of those
transactions, committed exactly when the transaction is.

What the callbacks did not decide is settled explicitly, never by when
objects happen to be collected: ``settle_ended()`` reads the fence for this
thread's pending sessions whose transactions have all ended. It runs at the
end of every web request (``request_finished``), at every start in the same
thread, and the cluster's check settles whatever is left (``resolve``, for
sessions pending longer than a second: a caller that died, a command that
ended). Nothing here starts a thread.
"""

import logging
import threading
from dataclasses import dataclass, field
from functools import partial

from django.db import DatabaseError, connections, transaction

from . import fence, transport
from .companies import company_aliases
from .conf import app_settings
from .exceptions import SessionStartError
from .models import BackgroundSession, Status

logger = logging.getLogger("sessions_app")

_local = threading.local()


@dataclass
class Watch:
    """A pending session of this thread, and the aliases whose commit it still waits for."""

    session_id: int
    aliases: tuple[str, ...]
    waiting: set[str] = field(default_factory=set)
    done: bool = False


def _watches() -> dict[int, Watch]:
    if not hasattr(_local, "watches"):
        _local.watches = {}
    return _local.watches


def open_transactions() -> list[str]:
    """The aliases on which this thread is inside an atomic block (the registry excepted)."""
    return [
        conn.alias
        for conn in connections.all(initialized_only=True)
        if conn.alias != app_settings.REGISTRY_ALIAS and conn.in_atomic_block
    ]


def fenceable(alias: str) -> bool:
    """Can ``alias`` hold the fence rows that prove a caller's commit (``default`` and every company)?"""
    return alias == "default" or alias in company_aliases()


def watch(session: BackgroundSession, aliases: list[str]) -> None:
    """Write the session's ``start`` fence row in each of the caller's transactions, and queue it on their commit.

    Raise ``SessionStartError("unavailable")``, with the session's row deleted,
    if a fence row cannot be written.
    """
    try:
        for alias in aliases:
            if fenceable(alias):  # in the caller's transaction: committed exactly when it is
                with transaction.atomic(using=alias):  # a savepoint: a failure here leaves the caller's work intact
                    fence.commit(alias, session.uuid, fence.START)
    except DatabaseError as e:
        BackgroundSession.objects.filter(pk=session.pk).delete()
        raise SessionStartError("unavailable", f"Could not record the session in the caller's transaction: {e}") from e
    w = Watch(session.id, tuple(aliases), set(aliases))
    _watches()[session.id] = w
    for alias in aliases:
        transaction.on_commit(partial(_committed, w, alias), using=alias)


def _committed(w: Watch, alias: str) -> None:
    w.waiting.discard(alias)
    if not w.waiting and not w.done:
        w.done = True
        _watches().pop(w.session_id, None)
        queue(w.session_id)


def settle_ended(sender=None, **kwargs) -> list[int]:
    """Settle this thread's pending sessions whose caller transactions have all ended; return their ids.

    Their callbacks did not queue them: a rollback, or another callback that
    raised. The fence says which (``resolve``). Also a ``request_finished`` receiver.
    """
    settled = []
    for w in list(_watches().values()):
        if w.done or any(connections[alias].in_atomic_block for alias in w.aliases):
            continue  # queued already, or a transaction (perhaps a later one) is still open
        w.done = True
        _watches().pop(w.session_id, None)
        try:
            if not all(fenceable(alias) for alias in w.aliases):
                # No fence to read on such an alias: dropped callbacks are taken for a rollback.
                BackgroundSession.objects.cancel_pending(
                    w.session_id, "the caller's on-commit callbacks were dropped (a rollback)"
                )
            else:
                resolve(w.session_id)
        except Exception:
            logger.exception("session=%s: could not settle its caller's commit; the cluster will", w.session_id)
        settled.append(w.session_id)
    return settled


def queue(session_id: int, message: str = "caller committed") -> bool:
    """Queue a pending session; False if it was no longer pending.

    If the broker refuses it, the session ends ``failed`` with the reason.
    """
    session = BackgroundSession.objects.get(pk=session_id)
    try:
        with transaction.atomic(using=app_settings.REGISTRY_ALIAS):  # the push fails: it stays pending, then failed
            session.task_id = transport.new_task_id()
            if not BackgroundSession.objects.queue_pending(session_id, session.task_id, message):
                return False
            transport.publish(session)
    except Exception as e:
        logger.exception("session=%s could not be queued after commit", session_id)
        BackgroundSession.objects.finish(
            session_id, Status.FAILED, from_status=Status.PENDING, error=f"Could not be queued: {e}"
        )
    return True


def resolve(session_id: int) -> str | None:
    """Queue or cancel a pending session by what its caller committed; return the new status, or ``None``.

    ``None`` while one of the caller's transactions is still open, or when an
    alias it waits on cannot hold a fence row (then only its on-commit
    callback, or ``SESSIONS_PENDING_MAX_AGE``, decides). Called outside any
    transaction on those aliases.
    """
    session = BackgroundSession.objects.filter(pk=session_id, status=Status.PENDING).first()
    if session is None:
        return None
    aliases = list(session.awaits or [])
    if not aliases or not all(fenceable(alias) for alias in aliases):
        return None
    for alias in aliases:
        verdict = fence.void(alias, session.uuid, fence.START)
        if verdict.outcome == fence.BUSY:
            return None
        if verdict.outcome == fence.VOID:
            if BackgroundSession.objects.cancel_pending(session_id, f"the caller rolled back on {alias}"):
                logger.info("session=%s cancelled: the caller rolled back on %s", session_id, alias)
                return Status.CANCELLED
            return None
    if queue(session_id, "caller committed (read from the fence)"):
        return Status.QUEUED
    return None
