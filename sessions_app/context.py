"""SessionContext: what a running codeunit gets as its ``session`` argument."""

import logging
import threading
import time
import uuid as uuid_module
from contextvars import ContextVar

from django.utils import timezone

from . import origins, storable
from .conf import app_settings
from .exceptions import SessionStopped
from .models import BackgroundSession, SessionEvent, SessionGroup

logger = logging.getLogger("sessions_app")

PROGRESS_INTERVAL = 0.5  # seconds between progress writes, so a tight loop cannot flood the registry
LOG_FLUSH_INTERVAL = 0.5  # seconds between writes of buffered log lines

_running: ContextVar["SessionContext | None"] = ContextVar("sessions_running_session", default=None)


def running_session() -> "SessionContext | None":
    """Return the session whose codeunit is running in this context, if any."""
    return _running.get()


class SessionContext:
    """The running session as its codeunit sees it.

    Progress and log lines go to the registry on its own connection, outside
    the codeunit's transaction, so other processes see them while it runs and
    they survive its rollback. Both are throttled: a codeunit may call them in
    its tightest loop.
    """

    def __init__(self, session: BackgroundSession, company, user=None):
        self._session = session
        self.id: int = session.id
        self.uuid: uuid_module.UUID = session.uuid
        self.company: str = company.name
        self.alias: str = company.alias
        self.user = user
        self.mode: str = session.mode
        self.rerun_of: int | None = session.rerun_of  # the session this one runs again (a lost one, or a user's re-run)
        # Set by the watcher thread: "stopped" or "timed_out".
        self.stop_reason: str | None = None
        self._lock = threading.Lock()
        self._last_progress = 0.0
        self._last_milestone = 0
        self._log_buffer: list[SessionEvent] = []
        self._last_flush = 0.0
        self._log_count = 0

    def __repr__(self):
        return f"<SessionContext {self.id} {self._session.codeunit_name!r} in {self.company!r}>"

    @property
    def row(self) -> BackgroundSession:
        """The session's registry row as it was claimed (not read again: progress and status move on)."""
        return self._session

    @property
    def origin(self):
        """What started this session, as the layer that started it resolves it (``origins``), or ``None``.

        A scheduled task's attempt or failure codeunit gets its ``ScheduledTask``,
        a job queue entry's run its ``JobQueueEntry``.
        """
        if not hasattr(self, "_origin"):
            self._origin = origins.resolve(self._session)
        return self._origin

    @property
    def group(self):
        """The ``SessionGroup`` this session is a member of, or whose completion it runs; else ``None``.

        A completion reads its members' outcomes with ``session.group.outcomes()``.
        """
        if not hasattr(self, "_group"):
            group_id = self._session.group_id
            self._group = SessionGroup.objects.filter(pk=group_id).first() if group_id else None
            if self._group is None and (self._session.origin or "").startswith("group:"):
                self._group = self.origin
        return self._group

    @property
    def failed_task(self):
        """In a task's failure codeunit: the ``ScheduledTask`` that failed, else ``None``.

        Its ``params``, ``error_message``, ``error_type`` and ``error_traceback``
        say what was tried and how the last attempt failed.
        """
        return self.origin if (self._session.origin or "").endswith(":failure") else None

    def progress(self, done: int, total: int | None = None, message: str = "") -> None:
        """Record how far the codeunit has got; cheap to call in a loop."""
        now = time.monotonic()
        final = total is not None and done >= total
        if not final and now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        message = storable.text(message, 200)
        BackgroundSession.objects.filter(pk=self.id).update(
            progress_done=done, progress_total=total, progress_message=message
        )
        if total:
            milestone = min(100, int(100 * done / total)) // 10 * 10
            if milestone > self._last_milestone:
                self._last_milestone = milestone
                self._add_event(SessionEvent.Kind.PROGRESS, f"{milestone}% ({done}/{total}) {message}".strip())
        self._flush_if_due(now)

    def log(self, message: str) -> None:
        """Add a line to the session's log; lines are written in batches."""
        self._log_count += 1
        if self._log_count > app_settings.LOG_LINES_MAX:
            return
        logger.debug("session=%s log %s", self.id, message)
        self._add_event(SessionEvent.Kind.LOG, storable.text(message, storable.LOG_LINE_MAX_CHARS))
        self._flush_if_due(time.monotonic())

    def check_stop(self) -> None:
        """Raise ``SessionStopped`` if a stop was asked for this session (or it timed out)."""
        if self.stop_reason is not None:
            raise SessionStopped(self.id, self.stop_reason)

    def _add_event(self, kind: str, message: str) -> None:
        with self._lock:
            self._log_buffer.append(SessionEvent(session_id=self.id, at=timezone.now(), kind=kind, message=message))

    def _flush_if_due(self, now: float) -> None:
        if now - self._last_flush >= LOG_FLUSH_INTERVAL:
            self.flush()

    def flush(self) -> None:
        """Write buffered log lines and progress events now."""
        with self._lock:
            events, self._log_buffer = self._log_buffer, []
            self._last_flush = time.monotonic()
        dropped = self._log_count - app_settings.LOG_LINES_MAX
        if dropped > 0:
            self._log_count = app_settings.LOG_LINES_MAX  # report each batch of dropped lines once
            events.append(
                SessionEvent(
                    session_id=self.id, kind=SessionEvent.Kind.LOG, message=f"({dropped} more log lines not kept)"
                )
            )
        if events:
            SessionEvent.objects.bulk_create(events)
