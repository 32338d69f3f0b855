"""The watcher: one thread per process beside the codeunits it runs.

It writes each running session's heartbeat and ends a codeunit when a stop is
asked (from any process or host, through the registry), its timeout passes,
or the cluster settled it from outside. It never raises into the codeunit:
an exception landing inside Django's own transaction bookkeeping breaks the
connection for every later session. Instead it

1. sets ``session.check_stop()`` and cancels the query the codeunit's
   connection is running on PostgreSQL (the codeunit gets an ordinary database
   error there; the transaction stays aborted until it rolls back). SQLite's
   ``interrupt()`` is not used in a worker: an interrupted write rolls the
   whole transaction back and leaves the connection in autocommit, so a
   codeunit that swallowed the error would commit its next writes one by one;
   ending the process is the safe stop there;
2. if the codeunit has not returned ``SESSIONS_STOP_GRACE`` seconds later and
   it runs in a django-q2 worker, shuts the *commit gate* so the codeunit can
   never commit, records the outcome, and ends the worker process. The
   database rolls the transaction back, as Business Central's StopSession
   does, and the cluster starts a fresh worker.

The commit gate is a lock the runner holds from the codeunit's return through
its commit: the watcher acts only while it can take it, so a stop either wins
before the commit or finds the session committing and lets it finish.
"""

import logging
import os
import threading
import time
from contextlib import contextmanager

from django.db import connections
from django.utils import timezone

from .conf import app_settings
from .models import WAITING_FOR_LOCK, BackgroundSession, SessionEvent, Status

logger = logging.getLogger("sessions_app")

EXIT_STOPPED = 75  # the worker's exit status when it ends a codeunit that did not stop in time

IDLE, CODEUNIT, COMMITTING = "idle", "codeunit", "committing"
LOCK_WAIT_NOTE = 1.0  # seconds a session waits for its transaction to begin before the registry says so


class Job:
    """One watched session."""

    def __init__(self, context, session, raw_connection, may_exit: bool, record_stop=None):
        self.context = context
        self.record_stop = record_stop  # writes the outcome before the worker is ended
        self.session_id = session.id
        self.deadline = session.started_at + session.timeout
        self.raw_connection = raw_connection
        self.may_exit = may_exit
        self.gate = threading.Lock()
        self.phase = IDLE
        self.last_beat = time.monotonic()
        self.cancelled_at: float | None = None
        self.last_cancel = 0.0
        self.started = time.monotonic()
        # Whether the codeunit's transaction has begun (on SQLite: holds the company's write lock),
        # and whether the watcher told the registry it was still waiting for it.
        self.note_lock = threading.Lock()
        self.has_lock = False
        self.noted_wait = False

    def began(self) -> None:
        """The runner's transaction has begun: take back a note that it was waiting for the lock."""
        with self.note_lock:
            self.has_lock = True
            noted = self.noted_wait
        if noted:
            BackgroundSession.objects.filter(pk=self.session_id, progress_message=WAITING_FOR_LOCK).update(
                progress_message=""
            )
            SessionEvent.objects.create(session_id=self.session_id, kind=SessionEvent.Kind.LOG, message="got it")

    def note_waiting(self) -> None:
        """Tell the registry the session waits for its company's write lock, and who holds it."""
        with self.note_lock:
            if self.has_lock or self.noted_wait:
                return
            self.noted_wait = True
            BackgroundSession.objects.filter(pk=self.session_id).update(progress_message=WAITING_FOR_LOCK)
            session = BackgroundSession.objects.get(pk=self.session_id)
            holder = session.company_holder()
            who = f"session {holder.id} ({holder.codeunit_name})" if holder is not None else "another writer"
            SessionEvent.objects.create(
                session_id=self.session_id,
                kind=SessionEvent.Kind.LOG,
                message=f"waiting for the company database: {who} holds its write lock",
            )


class Watcher(threading.Thread):
    def __init__(self):
        super().__init__(name="sessions-watcher", daemon=True)
        self.lock = threading.Condition()
        self.jobs: set[Job] = set()

    def add(self, job: Job) -> None:
        with self.lock:
            self.jobs.add(job)
            self.lock.notify()

    def remove(self, job: Job) -> None:
        with self.lock:
            self.jobs.discard(job)

    def run(self):
        while True:
            with self.lock:
                while not self.jobs:
                    self.lock.wait()
            time.sleep(app_settings.WATCH_INTERVAL)
            with self.lock:
                jobs = list(self.jobs)
            for job in jobs:
                try:
                    self._check(job)
                except Exception:
                    logger.exception("session=%s watcher could not reach the registry", job.session_id)
                    connections.close_all()  # this thread's own; a fresh one next time

    def _check(self, job: Job) -> None:
        now = time.monotonic()
        sessions = BackgroundSession.objects.filter(pk=job.session_id)
        if now - job.last_beat >= app_settings.HEARTBEAT_INTERVAL:
            sessions.update(heartbeat_at=timezone.now())
            job.last_beat = now
        if job.phase == CODEUNIT and not job.has_lock and now - job.started >= LOCK_WAIT_NOTE:
            job.note_waiting()
        context = job.context
        if context.stop_reason is None:
            if timezone.now() >= job.deadline:
                context.stop_reason = "timed_out"
            else:
                row = sessions.values_list("status", "stop_requested_at").first()
                if row is None or row[0] != Status.RUNNING:
                    context.stop_reason = "settled"  # declared lost from outside: its commit would fail anyway
                elif row[1] is not None:
                    context.stop_reason = "stopped"
        if context.stop_reason:
            self._end(job, now)

    def _end(self, job: Job, now: float) -> None:
        if not job.gate.acquire(blocking=False):
            return  # the codeunit returned and is committing: too late to stop it
        try:
            if job.phase != CODEUNIT:
                return
            if job.cancelled_at is None or (not job.may_exit and now - job.last_cancel >= 1.0):
                job.cancelled_at = job.cancelled_at or now
                job.last_cancel = now
                _cancel_query(job)
                return
            if job.may_exit and now - job.cancelled_at >= app_settings.STOP_GRACE:
                _end_worker(job)  # does not return
        finally:
            job.gate.release()


def _cancel_query(job: Job) -> None:
    logger.info("session=%s ending: %s", job.session_id, job.context.stop_reason)
    raw = job.raw_connection
    try:
        if hasattr(raw, "interrupt"):  # sqlite3: ends the running statement
            if job.may_exit:
                return  # see the module's docstring: the worker is ended instead
            raw.interrupt()
        elif hasattr(raw, "cancel"):  # psycopg: cancels the server-side query
            raw.cancel()
    except Exception:
        logger.debug("session=%s: could not cancel the running query", job.session_id, exc_info=True)


def _end_worker(job: Job) -> None:
    """With the commit gate shut: record the outcome, then end this process (its transaction dies with it)."""
    reason = job.context.stop_reason
    logger.warning(
        "session=%s did not return within %ss of %s: ending worker process %s",
        job.session_id,
        app_settings.STOP_GRACE,
        reason,
        os.getpid(),
    )
    try:
        if job.record_stop is not None:
            job.record_stop(job.context, reason)
    except Exception:
        # The cluster settles it from the company's fence once this process is gone.
        logger.exception("session=%s: could not record the stop before ending the worker", job.session_id)
    finally:
        os._exit(EXIT_STOPPED)


_watcher: Watcher | None = None
_watcher_lock = threading.Lock()


def watcher() -> Watcher:
    """Return this process's watcher thread, started on first use (and again after a fork)."""
    global _watcher
    with _watcher_lock:
        if _watcher is None or not _watcher.is_alive():
            _watcher = Watcher()
            _watcher.start()
        return _watcher


@contextmanager
def watched(context, session, alias: str, *, may_exit: bool = False, record_stop=None):
    """Watch the block; yield the ``Job`` whose ``phase`` and ``gate`` the runner sets.

    ``may_exit``: the process is a django-q2 worker that may be ended when the
    codeunit does not stop in time (never an inline caller's process), after
    ``record_stop(context, reason)`` has written the outcome.
    """
    conn = connections[alias]
    conn.ensure_connection()
    job = Job(context, session, conn.connection, may_exit=may_exit, record_stop=record_stop)
    w = watcher()
    w.add(job)
    try:
        yield job
    finally:
        job.phase = IDLE
        w.remove(job)
