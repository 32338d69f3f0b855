"""The watcher: one thread per process beside the codeunits it runs.

It writes each running session's heartbeat, and when a stop is asked (from
any process or host, through the registry) or the timeout passes, it ends the
codeunit: it cancels the query the codeunit's connection is running and, when
the codeunit runs in its process's main thread (a django-q2 worker),
interrupts it with a signal, so even ``time.sleep(600)`` ends within a second.
The runner then rolls the codeunit's transaction back and records the outcome.

The thread and its registry connection live as long as the process, so
watching costs no thread or connection per session.
"""

import logging
import signal
import threading
import time
from contextlib import contextmanager

from django.db import connections
from django.utils import timezone

from .conf import app_settings
from .exceptions import SessionInterrupted
from .models import BackgroundSession

logger = logging.getLogger("sessions_app")

STOP_SIGNAL = signal.SIGUSR1


class Job:
    """One watched session."""

    def __init__(self, context, session, raw_connection, interrupt_main: bool):
        self.context = context
        self.session_id = session.id
        self.deadline = session.started_at + session.timeout
        self.raw_connection = raw_connection
        self.interrupt_main = interrupt_main
        self.in_codeunit = False
        self.last_beat = time.monotonic()
        self.last_fire = 0.0


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
        # Taking the lock waits for an interrupt of this job that is under
        # way: none can come after this returns.
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
        sessions = BackgroundSession.objects.using(app_settings.REGISTRY_ALIAS).filter(pk=job.session_id)
        if now - job.last_beat >= app_settings.HEARTBEAT_INTERVAL:
            sessions.update(heartbeat_at=timezone.now())
            job.last_beat = now
        context = job.context
        if context.stop_reason is None:
            if timezone.now() >= job.deadline:
                context.stop_reason = "timed_out"
            elif sessions.filter(stop_requested_at__isnull=False).exists():
                context.stop_reason = "stopped"
        if context.stop_reason and now - job.last_fire >= 1.0:
            job.last_fire = now
            with self.lock:
                if job in self.jobs and job.in_codeunit:
                    self._interrupt(job)

    def _interrupt(self, job: Job) -> None:
        logger.info("session=%s interrupting: %s", job.session_id, job.context.stop_reason)
        raw = job.raw_connection
        try:
            if hasattr(raw, "interrupt"):  # sqlite3: ends the running statement
                raw.interrupt()
            elif hasattr(raw, "cancel"):  # psycopg: cancels the server-side query
                raw.cancel()
        except Exception:
            logger.debug("session=%s: could not cancel the running query", job.session_id, exc_info=True)
        if job.interrupt_main:
            signal.pthread_kill(threading.main_thread().ident, STOP_SIGNAL)


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
def watched(context, session, alias: str):
    """Run the block watched; ``SessionInterrupted`` ends it when a stop or timeout comes.

    Set ``job.in_codeunit`` around the codeunit call: only then may it be interrupted.
    """
    conn = connections[alias]
    conn.ensure_connection()
    in_main = threading.current_thread() is threading.main_thread()
    job = Job(context, session, conn.connection, interrupt_main=in_main)
    previous = None
    if in_main:

        def handler(signum, frame):
            if job.in_codeunit and context.stop_reason:
                job.in_codeunit = False
                raise SessionInterrupted(context.stop_reason)

        previous = signal.signal(STOP_SIGNAL, handler)
    w = watcher()
    w.add(job)
    try:
        yield job
    finally:
        job.in_codeunit = False
        w.remove(job)
        if in_main:
            # A signal sent just before the job was removed must not end the
            # process, so the default action (terminate) is never restored.
            keep = previous not in (None, signal.SIG_DFL)
            signal.signal(STOP_SIGNAL, previous if keep else signal.SIG_IGN)
