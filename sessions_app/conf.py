"""The app's settings, read lazily so that ``override_settings`` works.

Use ``from sessions_app.conf import app_settings`` and read attributes at call
time; nothing here is evaluated at import.
"""

import socket
from datetime import timedelta

from django.conf import settings

SESSION_TASK = "sessions_app.runner.execute"
"""The function every session's django-q2 package names: the runner's entry point."""
DEFAULT_TIMEOUT = timedelta(hours=12)
MAX_TIMEOUT = timedelta(hours=24)
TASK_CODEUNIT_ID = 2_000_000_100


class AppSettings:
    """Typed accessors for the ``SESSIONS_*`` settings, with their defaults."""

    def _get(self, name, default):
        return getattr(settings, f"SESSIONS_{name}", default)

    @property
    def COMPANIES(self) -> dict[str, str]:
        """Company name -> database alias."""
        return dict(self._get("COMPANIES", {}))

    @property
    def REGISTRY_ALIAS(self) -> str:
        """The database alias of the session registry (its own connection)."""
        return self._get("REGISTRY_ALIAS", "registry")

    @property
    def DEBUG(self) -> bool:
        """Run every session inline unless the caller says ``debug=False``."""
        return bool(self._get("DEBUG", False))

    @property
    def DEFAULT_TIMEOUT(self) -> timedelta:
        return self._get("DEFAULT_TIMEOUT", DEFAULT_TIMEOUT)

    @property
    def MAX_TIMEOUT(self) -> timedelta:
        """The longest timeout a session may ask for; django-q2's ``retry`` must exceed it."""
        return self._get("MAX_TIMEOUT", MAX_TIMEOUT)

    @property
    def CLAIM_WAIT(self) -> float:
        """Seconds a worker waits for a session row it cannot see yet."""
        return float(self._get("CLAIM_WAIT", 5.0))

    @property
    def MAX_ACTIVE(self) -> int | None:
        """At most this many pending, queued or running sessions at once (``None``: no limit)."""
        return self._get("MAX_ACTIVE", None)

    @property
    def MAX_ACTIVE_PER_COMPANY(self) -> "int | dict[str, int] | None":
        """The same limit per company: one number for all, or company name -> number."""
        return self._get("MAX_ACTIVE_PER_COMPANY", None)

    def company_limit(self, company: str) -> int | None:
        limit = self.MAX_ACTIVE_PER_COMPANY
        if isinstance(limit, dict):
            return limit.get(company)
        return limit

    @property
    def WATCH_INTERVAL(self) -> float:
        """Seconds between a running session's checks for a stop request or its timeout."""
        return float(self._get("WATCH_INTERVAL", 0.25))

    @property
    def HEARTBEAT_INTERVAL(self) -> float:
        return float(self._get("HEARTBEAT_INTERVAL", 3.0))

    @property
    def LOST_AFTER(self) -> float:
        """A running session with no heartbeat for this many seconds is ``lost``."""
        return float(self._get("LOST_AFTER", 15.0))

    @property
    def MAINTENANCE_INTERVAL(self) -> float:
        """Seconds between the cluster's checks for lost sessions and abandoned ones."""
        return float(self._get("MAINTENANCE_INTERVAL", 5.0))

    @property
    def PENDING_MAX_AGE(self) -> timedelta:
        """A session still waiting for its caller's commit after this long is cancelled."""
        return self._get("PENDING_MAX_AGE", timedelta(hours=1))

    @property
    def ALLOWED_TASKS(self) -> tuple[str, ...]:
        """Functions a worker may run from the queue: the session runner (a project may add its own)."""
        return tuple(self._get("ALLOWED_TASKS", (SESSION_TASK,)))

    @property
    def REQUEUE_AFTER(self) -> timedelta:
        """A session still queued after this long is queued again: its task was lost with a killed cluster."""
        return self._get("REQUEUE_AFTER", timedelta(minutes=5))

    @property
    def RETENTION_DAYS(self) -> int | None:
        """Finished sessions (and their events) older than this are pruned by the cluster."""
        return self._get("RETENTION_DAYS", 90)

    @property
    def LOG_LINES_MAX(self) -> int:
        """Log lines kept per session; later lines are counted, not stored."""
        return int(self._get("LOG_LINES_MAX", 1000))

    @property
    def STOP_GRACE(self) -> float:
        """Seconds a stopped or timed-out codeunit has to return before its worker process is ended."""
        return float(self._get("STOP_GRACE", 0.5))

    @property
    def RESULT_MAX_BYTES(self) -> int:
        """The largest result (as JSON) a session may return; a larger one fails the session."""
        return int(self._get("RESULT_MAX_BYTES", 256 * 1024))

    @property
    def HOST(self) -> str:
        """This host's name in worker and cluster names (``host:pid``): the pids a process may look up itself.

        Default: the machine's host name. Containers that share a host name but not their process ids
        must each set their own, or one would take the other's live workers for dead ones.
        """
        return str(self._get("HOST", "") or socket.gethostname())

    @property
    def HEALTH_BEAT_WITHIN(self) -> float:
        """Health: a cluster must have beaten within this many seconds (clusters beat every 15 s)."""
        return float(self._get("HEALTH_BEAT_WITHIN", 60.0))

    @property
    def HEALTH_QUEUE_AGE(self) -> float:
        """Health: the oldest queued session may have waited this many seconds, no longer."""
        return float(self._get("HEALTH_QUEUE_AGE", 300.0))

    @property
    def HEALTH_TOKEN(self) -> str:
        """Health: a bearer token that shows the view's details to a probe that is not signed in as staff."""
        return self._get("HEALTH_TOKEN", "")

    @property
    def TASK_CODEUNIT_ID(self) -> int:
        """The id of the codeunit "Django Task", which every ``@task`` of the sessions backend runs as."""
        return int(self._get("TASK_CODEUNIT_ID", TASK_CODEUNIT_ID))

    @property
    def RUN_DIR(self) -> str | None:
        """A folder only this user can write, for the cluster's lock files (default: one in the temp folder)."""
        return self._get("RUN_DIR", None)

    @property
    def IDLE_AFTER(self) -> float:
        """Seconds without work after which a cluster's pollers look at their idle pace (``IDLE_POLL``)."""
        return float(self._get("IDLE_AFTER", 10.0))

    @property
    def IDLE_POLL(self) -> float:
        """Seconds between an idle ORM broker's looks (one query for sessions and plain tasks together)."""
        return float(self._get("IDLE_POLL", 2.0))


app_settings = AppSettings()
