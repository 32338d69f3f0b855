"""The watcher: a thread beside each running codeunit.

It writes the session's heartbeat, and when a stop is asked (from any process
or host, through the registry) or the timeout passes, it ends the codeunit:
it cancels the query the codeunit's connection is running and, when the
codeunit runs in its process's main thread (a django-q2 worker), interrupts
it with a signal, so even ``time.sleep(600)`` ends within a second. The
runner then rolls the codeunit's transaction back and records the outcome.
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


class Watcher(threading.Thread):
    def __init__(self, context, session, raw_connection, interrupt_main: bool):
        super().__init__(name=f"session-{session.id}-watcher", daemon=True)
        self.context = context
        self.session_id = session.id
        self.deadline = session.started_at + session.timeout
        self.raw_connection = raw_connection
        self.interrupt_main = interrupt_main
        self.finished = threading.Event()
        self.in_codeunit = False

    def run(self):
        last_beat = time.monotonic()
        last_fire = 0.0
        try:
            while not self.finished.wait(app_settings.WATCH_INTERVAL):
                now = time.monotonic()
                try:
                    if now - last_beat >= app_settings.HEARTBEAT_INTERVAL:
                        BackgroundSession.objects.filter(pk=self.session_id).update(heartbeat_at=timezone.now())
                        last_beat = now
                    if self.context.stop_reason is None:
                        self.context.stop_reason = self._stop_reason()
                except Exception:
                    logger.exception("session=%s watcher could not reach the registry", self.session_id)
                if self.context.stop_reason and now - last_fire >= 1.0:
                    last_fire = now
                    self._interrupt()
        finally:
            connections.close_all()  # this thread's own connections

    def _stop_reason(self) -> str | None:
        if timezone.now() >= self.deadline:
            return "timed_out"
        requested = BackgroundSession.objects.filter(pk=self.session_id, stop_requested_at__isnull=False).exists()
        return "stopped" if requested else None

    def _interrupt(self):
        logger.info("session=%s interrupting: %s", self.session_id, self.context.stop_reason)
        if not self.in_codeunit:
            return
        raw = self.raw_connection
        try:
            if hasattr(raw, "interrupt"):  # sqlite3: ends the running statement
                raw.interrupt()
            elif hasattr(raw, "cancel"):  # psycopg: cancels the server-side query
                raw.cancel()
        except Exception:
            logger.debug("session=%s: could not cancel the running query", self.session_id, exc_info=True)
        if self.interrupt_main:
            signal.pthread_kill(threading.main_thread().ident, STOP_SIGNAL)

    def stop(self):
        self.finished.set()
        self.join(timeout=5)


@contextmanager
def watched(context, session, alias: str):
    """Run the block with a watcher; ``SessionInterrupted`` ends it when a stop or timeout comes."""
    conn = connections[alias]
    conn.ensure_connection()
    in_main = threading.current_thread() is threading.main_thread()
    watcher = Watcher(context, session, conn.connection, interrupt_main=in_main)
    previous = None
    if in_main:

        def handler(signum, frame):
            if watcher.in_codeunit and context.stop_reason:
                watcher.in_codeunit = False
                raise SessionInterrupted(context.stop_reason)

        previous = signal.signal(STOP_SIGNAL, handler)
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.in_codeunit = False
        watcher.stop()
        if in_main:
            # A signal sent just before the watcher stopped must not end the
            # process, so the default action (terminate) is never restored.
            keep = previous not in (None, signal.SIG_DFL)
            signal.signal(STOP_SIGNAL, previous if keep else signal.SIG_IGN)
