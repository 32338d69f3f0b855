"""The runner: the one place a codeunit is executed, in the background or inline.

The transaction boundary is here and nowhere else: the codeunit runs inside
``transaction.atomic(using=<company alias>)`` with its company current. The
session's bookkeeping (claimed, finished, failed) goes to the registry alias
outside that block, so a failure is recorded although the codeunit's writes
roll back.
"""

import logging
import os
import socket
import time
import traceback as traceback_module

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django_q.exceptions import TimeoutException

from . import retry
from .access import load_user
from .codeunits import registry
from .companies import get_company, use_company
from .conf import app_settings
from .context import SessionContext, _running
from .exceptions import SessionError, SessionInterrupted, SessionStopped
from .models import BackgroundSession, SessionEvent, Status
from .transactions import write_atomic
from .watch import watched

logger = logging.getLogger("sessions_app")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execute(session_id: int) -> None:
    """django-q2's entry point: run session ``session_id`` once. Never raises."""
    try:
        run(session_id)
    except Exception:  # the session row already says why; keep the worker serving
        logger.exception("session=%s could not be run", session_id)


def run(session_id: int) -> BackgroundSession | None:
    """Claim and run a queued session. Return it finished, or ``None`` if it was not ours to run."""
    session = claim(session_id)
    if session is None:
        return None
    execute_claimed(session)
    return session


def claim(session_id: int) -> BackgroundSession | None:
    """Mark the session running, once. A redelivered or cancelled session returns ``None``."""
    sessions = BackgroundSession.objects.using(app_settings.REGISTRY_ALIAS)
    deadline = time.monotonic() + app_settings.CLAIM_WAIT
    while True:
        now = timezone.now()
        with transaction.atomic(using=app_settings.REGISTRY_ALIAS):  # claim and its event: one commit
            claimed = sessions.filter(pk=session_id, status=Status.QUEUED).update(
                status=Status.RUNNING, started_at=now, heartbeat_at=now, worker=worker_name()
            )
            if claimed:
                session = sessions.get(pk=session_id)
                _event(session, SessionEvent.Kind.STARTED, f"on {session.worker}")
                return session
        status = sessions.filter(pk=session_id).values_list("status", flat=True).first()
        if status is not None:
            # A redelivered task, or a session stopped before it started: record and do nothing.
            logger.warning("session=%s not run: it is %s", session_id, status)
            SessionEvent.objects.using(app_settings.REGISTRY_ALIAS).create(
                session_id=session_id, kind=SessionEvent.Kind.REFUSED, message=f"delivered again while {status}"
            )
            return None
        if time.monotonic() > deadline:
            logger.error("session=%s not run: no such session", session_id)
            return None
        time.sleep(0.05)


def execute_claimed(session: BackgroundSession) -> BaseException | None:
    """Run a claimed session's codeunit and record its outcome.

    Return the exception the codeunit raised (already recorded), or ``None``.
    ``KeyboardInterrupt`` and ``SystemExit`` are recorded and re-raised.
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
        with use_company(company), watched(context, session, company.alias) as job:
            with write_atomic(company.alias):
                job.in_codeunit = True
                try:
                    result = cu.func(record, context)
                finally:
                    job.in_codeunit = False
                # A result that cannot be stored fails the session before its work commits.
                DjangoJSONEncoder().encode(result)
    except BaseException as e:
        status, error = _failure(session, context, e)
        _finish(
            session,
            status,
            error=error,
            tb=traceback_module.format_exc(),
            context=context,
            error_type=retry.error_type(e),
            retriable=status == Status.FAILED and retry.is_retriable(e),
        )
        if not isinstance(e, (Exception, SessionInterrupted)):
            raise
        return e
    finally:
        _running.reset(token)
    _finish(session, Status.SUCCEEDED, result=result, context=context)
    return None


def _failure(session, context, exc) -> tuple[str, str]:
    """Return the status and error text for a codeunit that ended with ``exc``."""
    reason = context.stop_reason
    if isinstance(exc, (SessionStopped, SessionInterrupted)):
        reason = exc.reason
    elif isinstance(exc, TimeoutException):  # django-q2's own alarm, the last resort
        reason = "timed_out"
    if reason == "timed_out":
        return Status.TIMED_OUT, f"Timed out after {session.timeout} and rolled back."
    if reason == "stopped":
        row = BackgroundSession.objects.using(app_settings.REGISTRY_ALIAS).get(pk=session.id)
        who = f" by {row.stopped_by}" if row.stopped_by else ""
        why = f": {row.stop_comment}" if row.stop_comment else ""
        return Status.STOPPED, f"Stopped{who}{why}; rolled back."
    return Status.FAILED, f"{type(exc).__name__}: {exc}"


_FINISH_EVENTS = {
    Status.SUCCEEDED: SessionEvent.Kind.SUCCEEDED,
    Status.FAILED: SessionEvent.Kind.FAILED,
    Status.STOPPED: SessionEvent.Kind.STOPPED,
    Status.TIMED_OUT: SessionEvent.Kind.TIMED_OUT,
}


def _finish(session, status, *, result=None, error="", tb="", context=None, error_type="", retriable=False):
    if context is not None:
        try:
            context.flush()
        except Exception:
            logger.exception("session=%s: could not write its last log lines", session.id)
    now = timezone.now()
    with transaction.atomic(using=app_settings.REGISTRY_ALIAS):  # outcome and its event: one commit
        updated = (
            BackgroundSession.objects.using(app_settings.REGISTRY_ALIAS)
            .filter(pk=session.id, status=Status.RUNNING)
            .update(
                status=status,
                finished_at=now,
                result=result,
                error=error[:10000],
                traceback=tb,
                error_type=error_type[:200],
                retriable=retriable,
            )
        )
        if updated:
            _event(session, _FINISH_EVENTS[status], error.splitlines()[0] if error else "")
    session.status, session.finished_at, session.result, session.error, session.traceback = (
        status,
        now,
        result,
        error[:10000],
        tb,
    )
    session.error_type, session.retriable = error_type[:200], retriable
    level = logging.INFO if status == Status.SUCCEEDED else logging.ERROR
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


def _event(session, kind, message=""):
    SessionEvent.objects.using(app_settings.REGISTRY_ALIAS).create(session_id=session.id, kind=kind, message=message)
