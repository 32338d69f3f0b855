"""The runner: the one place a codeunit is executed, in the background or inline.

The transaction boundary is here and nowhere else: the codeunit runs inside
``transaction.atomic(using=<company alias>)`` with its company current. Its
outcome is decided in that same transaction: the runner commits the work only
together with the session's fence row (``fence.py``), which the registry then
copies. The bookkeeping (claimed, finished, failed) goes to the registry alias
outside that block, so a failure is recorded although the codeunit's writes
roll back, and a finish record the registry misses is recovered from the fence.
"""

import contextlib
import logging
import os
import time
import traceback as traceback_module

from django.db import DatabaseError, IntegrityError, connections
from django.utils import timezone

from . import fence, retry, signals, storable
from .access import load_user
from .codeunits import registry
from .companies import get_company, use_company
from .conf import app_settings
from .context import SessionContext, _running
from .exceptions import ResultRefused, SessionError, SessionFenced, SessionStopped
from .models import BackgroundSession, SessionEvent, Status
from .transactions import atomic_in_turn, served, trust_recent
from .watch import CODEUNIT, COMMITTING, IDLE, watched

logger = logging.getLogger("sessions_app")

FINISH_RETRY_FOR = 10.0  # seconds the runner keeps trying to write a finish record the registry refused


def worker_name() -> str:
    return f"{app_settings.HOST}:{os.getpid()}"


def execute(session_id: int) -> None:
    """django-q2's entry point: run session ``session_id`` once. Never raises."""
    trust_recent()
    try:
        session = run(session_id, in_worker=True)
    except Exception:  # the session row already says why; keep the worker serving
        logger.exception("session=%s could not be run", session_id)
        return
    if session is not None:
        with contextlib.suppress(SessionError):
            served((app_settings.REGISTRY_ALIAS, get_company(session.company).alias))


def run(session_id: int, *, in_worker: bool = False) -> BackgroundSession | None:
    """Claim and run a queued session. Return it finished, or ``None`` if it was not ours to run."""
    session = claim(session_id)
    if session is None:
        return None
    execute_claimed(session, in_worker=in_worker)
    return session


def claim(session_id: int) -> BackgroundSession | None:
    """Mark the session running, once. A redelivered or cancelled session returns ``None``.

    A registry that refuses the claim (a dropped connection) is asked again
    for ``FINISH_RETRY_FOR`` seconds: a session this cluster took and never
    claimed would wait for ever, since only a dead cluster's are queued again.
    """
    sessions = BackgroundSession.objects.all()
    deadline = time.monotonic() + app_settings.CLAIM_WAIT
    refused_until = time.monotonic() + FINISH_RETRY_FOR
    while True:
        try:
            session = sessions.claim(session_id, worker_name())
        except DatabaseError:
            if time.monotonic() >= refused_until:
                raise
            logger.warning("session=%s: the registry refused its claim; asking again", session_id, exc_info=True)
            connections[app_settings.REGISTRY_ALIAS].close()
            time.sleep(0.2)
            continue
        if session is not None:
            return session
        status = sessions.filter(pk=session_id).values_list("status", flat=True).first()
        if status is not None:
            # A redelivered task, or a session stopped before it started: record and do nothing.
            logger.warning("session=%s not run: it is %s", session_id, status)
            SessionEvent.objects.create(
                session_id=session_id, kind=SessionEvent.Kind.REFUSED, message=f"delivered again while {status}"
            )
            return None
        if time.monotonic() > deadline:
            logger.error("session=%s not run: no such session", session_id)
            return None
        time.sleep(0.05)


def execute_claimed(session: BackgroundSession, *, in_worker: bool = False) -> BaseException | None:
    """Run a claimed session's codeunit and record its outcome.

    Return the exception the codeunit raised (already recorded), or ``None``.
    ``KeyboardInterrupt`` and ``SystemExit`` are recorded and re-raised.
    ``in_worker``: this is a django-q2 worker, which may be ended when the
    codeunit does not stop in time.
    """
    logger.debug(
        "session=%s codeunit=%s company=%s mode=%s started",
        session.id,
        session.codeunit_id,
        session.company,
        session.mode,
    )
    try:
        cu = registry.get(session.codeunit_id)
        record = cu.params.from_json(session.params)
        company = get_company(session.company)
        context = SessionContext(session, company, user=load_user(session.user_id))
    except SessionError as e:
        # A row that names no registered codeunit (or was tampered with) is refused, not run.
        _finish(session, Status.FAILED, error=f"Refused: {e}")
        return e

    token = _running.set(context)
    try:
        with (
            use_company(company),
            watched(context, session, company.alias, may_exit=in_worker, record_stop=record_stop) as job,
        ):
            result = _run_and_commit(cu, record, context, job)
    except BaseException as e:
        status, error = _failure(session, context, e)
        _finish(
            session,
            status,
            error=error,
            tb="" if status in (Status.STOPPED, Status.TIMED_OUT) else traceback_module.format_exc(),
            context=context,
            error_type=retry.error_type(e),
            retriable=status == Status.FAILED and retry.is_retriable(e),
        )
        if not isinstance(e, Exception):
            raise
        return e
    finally:
        _running.reset(token)
    _finish(session, Status.SUCCEEDED, result=result, context=context)
    return None


def _run_and_commit(cu, record, context: SessionContext, job):
    """Run the codeunit in its transaction; commit its work only together with its fence row.

    Return the result as stored. The commit gate is held from the codeunit's
    return through the commit, so the watcher cannot end the process in between.
    """
    # Until the gate is taken a stop may end the process: in the codeunit, and also
    # while it waits for the company's write lock (SQLite). An inline session gives up waiting instead.
    job.phase = CODEUNIT
    holding_gate = False
    try:
        with atomic_in_turn(context.alias, give_up=None if job.may_exit else context.check_stop):
            job.began()
            value = cu.func(record, context)
            job.gate.acquire()
            holding_gate = True
            job.phase = COMMITTING
            context.check_stop()  # a stop that came while it ran rolls it back
            result = storable.result(value)
            try:
                fence.commit(context.alias, context.uuid, fence.RUN, result)
            except IntegrityError as e:
                raise SessionFenced(context.id) from e
        return result
    finally:
        job.phase = IDLE  # rolled back or committed: the failure or outcome is recorded next, unhurried
        if holding_gate:
            job.gate.release()


def _failure(session, context, exc) -> tuple[str, str]:
    """Return the status and error text for a codeunit that ended with ``exc``."""
    reason = context.stop_reason
    if isinstance(exc, SessionStopped):
        reason = exc.reason
    elif isinstance(exc, (ResultRefused, SessionFenced)):
        return Status.FAILED, str(exc)
    if reason in ("timed_out", "stopped"):
        return stop_outcome(session.id, reason, session.timeout)
    return Status.FAILED, f"{type(exc).__name__}: {exc}"


def stop_outcome(session_id: int, reason: str, timeout, *, ended_worker: bool = False) -> tuple[str, str]:
    """Return the status and the message of a session ended by a stop or its timeout."""
    how = " (its worker process was ended)" if ended_worker else ""
    if reason == "timed_out":
        return Status.TIMED_OUT, f"Timed out after {timeout}{how}; rolled back."
    row = BackgroundSession.objects.filter(pk=session_id).first()
    who = f" by {row.stopped_by}" if row is not None and row.stopped_by else ""
    why = f": {row.stop_comment}" if row is not None and row.stop_comment else ""
    return Status.STOPPED, f"Stopped{who}{why}{how}; rolled back."


def record_stop(context: SessionContext, reason: str, *, ended_worker: bool = True) -> None:
    """Record a stop the watcher enforces by ending the worker (the commit gate is shut: nothing can commit)."""
    session = context.row
    if reason not in ("timed_out", "stopped"):
        return  # settled from outside: the registry already says how it ended
    status, error = stop_outcome(session.id, reason, session.timeout, ended_worker=ended_worker)
    _finish(session, status, error=error, context=context)


def finished(session: BackgroundSession) -> None:
    """Tell the layers built on sessions that ``session`` has finished (``signals.session_finished``)."""
    for receiver, error in signals.session_finished.send_robust(sender=BackgroundSession, session=session):
        if error is not None:
            logger.error("session=%s: %r failed on its finish: %s", session.id, receiver, error, exc_info=error)


def _finish(session, status, *, result=None, error="", tb="", context=None, error_type="", retriable=False):
    """Write the finish record, trying again for a while if the registry refuses it.

    If it still cannot be written, the session stays ``running`` without
    heartbeats, and the cluster settles it from the company's fence.
    """
    if context is not None:
        try:
            context.flush()
        except Exception:
            logger.exception("session=%s: could not write its last log lines", session.id)
    now = timezone.now()
    error = storable.text(error, storable.ERROR_MAX_CHARS)
    tb = storable.text(tb, storable.TRACEBACK_MAX_CHARS, keep_end=True)
    error_type = error_type[:200]
    fields = dict(finished_at=now, result=result, error=error, traceback=tb, error_type=error_type, retriable=retriable)
    message = error.splitlines()[0] if error else ""
    sessions = BackgroundSession.objects.all()
    deadline = time.monotonic() + FINISH_RETRY_FOR
    delay = 0.1
    recorded = False
    while True:
        try:
            recorded = sessions.finish(session.id, status, message=message, **fields)
            break
        except DatabaseError:
            connections[app_settings.REGISTRY_ALIAS].close()  # a broken connection is replaced on the next try
            if time.monotonic() >= deadline:
                logger.exception(
                    "session=%s: the registry refused its finish record (%s); the cluster will settle it",
                    session.id,
                    status,
                )
                break
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    for name, value in fields.items():
        setattr(session, name, value)
    session.status = status
    if recorded:
        finished(session)
    # A stop someone asked for is no error; a timeout is worth a warning; a failure is an error.
    level = {Status.SUCCEEDED: logging.INFO, Status.STOPPED: logging.INFO, Status.TIMED_OUT: logging.WARNING}.get(
        status, logging.ERROR
    )
    logger.log(
        level,
        "session=%s codeunit=%s company=%s %s in %s%s",
        session.id,
        session.codeunit_id,
        session.company,
        status,
        session.elapsed,
        f": {error}" if error else "",
    )
