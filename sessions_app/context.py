"""SessionContext: what a running codeunit gets as its ``session`` argument."""

import logging
import time
import uuid as uuid_module

from django.utils import timezone

from .models import BackgroundSession, SessionEvent

logger = logging.getLogger("sessions_app")

PROGRESS_INTERVAL = 0.5  # seconds between progress writes, so a tight loop cannot flood the registry


class SessionContext:
    """The running session as its codeunit sees it.

    Progress and log lines go to the registry on its own connection, outside
    the codeunit's transaction, so other processes see them while it runs and
    they survive its rollback.
    """

    def __init__(self, session: BackgroundSession, company, user=None):
        self._session = session
        self.id: int = session.id
        self.uuid: uuid_module.UUID = session.uuid
        self.company: str = company.name
        self.alias: str = company.alias
        self.user = user
        self.mode: str = session.mode
        self._last_progress = 0.0

    def __repr__(self):
        return f"<SessionContext {self.id} {self._session.codeunit_name!r} in {self.company!r}>"

    def progress(self, done: int, total: int | None = None, message: str = "") -> None:
        """Record how far the codeunit has got; cheap to call in a loop."""
        now = time.monotonic()
        final = total is not None and done >= total
        if not final and now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        BackgroundSession.objects.filter(pk=self.id).update(
            progress_done=done, progress_total=total, progress_message=str(message)[:200]
        )

    def log(self, message: str) -> None:
        """Add a line to the session's log (its events)."""
        logger.info("session=%s log %s", self.id, message)
        SessionEvent.objects.create(
            session_id=self.id, at=timezone.now(), kind=SessionEvent.Kind.LOG, message=str(message)
        )

    def check_stop(self) -> None:
        """Raise ``SessionStopped`` if a stop was asked for this session."""
        from .exceptions import SessionStopped

        if BackgroundSession.objects.filter(pk=self.id, stop_requested_at__isnull=False).exists():
            raise SessionStopped(self.id)
