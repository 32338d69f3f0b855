"""The scheduling layer's settings (``SESSIONS_*`` names, as the engine's), read lazily like ``app_settings``."""

from datetime import timedelta

from sessions_app.conf import AppSettings


class SchedulingSettings(AppSettings):
    """The engine's settings, and the scheduler's own."""

    @property
    def CLOCK(self) -> str:
        """Dotted path of the scheduler's clock, a callable returning an aware datetime (a setting, never input)."""
        return self._get("CLOCK", "django.utils.timezone.now")

    @property
    def SCHEDULER_INTERVAL(self) -> float:
        """Longest sleep, in seconds, between the dispatcher's looks for due tasks and job queue entries."""
        return float(self._get("SCHEDULER_INTERVAL", 1.0))

    @property
    def SCHEDULER_IDLE_INTERVAL(self) -> float:
        """The same, once nothing has run or fallen due for ``IDLE_AFTER`` seconds (a new entry waits this long)."""
        return float(self._get("SCHEDULER_IDLE_INTERVAL", 5.0))

    @property
    def TASK_MAX_RETRIES(self) -> int:
        """How many times a scheduled task that failed with a retriable error is tried again."""
        return int(self._get("TASK_MAX_RETRIES", 3))

    @property
    def TASK_RETRY_DELAY(self) -> timedelta:
        """The delay before a task's first retry; it doubles with each further retry."""
        return self._get("TASK_RETRY_DELAY", timedelta(seconds=30))

    @property
    def TASK_RETRY_DELAY_MAX(self) -> timedelta:
        return self._get("TASK_RETRY_DELAY_MAX", timedelta(minutes=30))

    @property
    def DISPATCH_RECOVER_AFTER(self) -> timedelta:
        """A task or entry claimed this long ago whose session was never written is started again."""
        return self._get("DISPATCH_RECOVER_AFTER", timedelta(seconds=30))


app_settings = SchedulingSettings()
