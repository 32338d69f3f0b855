"""Can sessions run here? The answer a load balancer, a Kubernetes probe or cron asks for.

Four checks, each cheap (one short query): the registry answers; every company database answers;
at least one cluster beat within ``SESSIONS_HEALTH_BEAT_WITHIN`` seconds (a cluster beats every 15 s,
busy or idle); and the oldest queued session waited less than ``SESSIONS_HEALTH_QUEUE_AGE`` seconds
(queued sessions nobody takes: no worker, or too few). ``manage.py sessions_health`` and the view
``/sessions/health/`` give the same answer.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import DatabaseError, connections
from django.utils import timezone

from .companies import all_companies
from .conf import app_settings
from .models import BackgroundSession, ClusterBeat, Status


@dataclass(frozen=True)
class Check:
    name: str  # registry, companies, cluster, queue
    ok: bool
    detail: str


@dataclass(frozen=True)
class Health:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def reason(self) -> str:
        """One line: what failed first, or that all is well."""
        failed = [c.detail for c in self.checks if not c.ok]
        return "; ".join(failed) if failed else "ok: " + "; ".join(c.detail for c in self.checks)


def check(beat_within: float | None = None, queue_age: float | None = None) -> Health:
    """Run every check; a database that does not answer fails its check, and the rest still run."""
    beat_within = app_settings.HEALTH_BEAT_WITHIN if beat_within is None else beat_within
    queue_age = app_settings.HEALTH_QUEUE_AGE if queue_age is None else queue_age
    registry = _answers(app_settings.REGISTRY_ALIAS)
    checks = [Check("registry", registry is None, registry or "registry answers")]
    down = [f"{c.name} ({error})" for c in all_companies() if (error := _answers(c.alias)) is not None]
    detail = f"company database down: {', '.join(down)}" if down else f"{len(all_companies())} companies answer"
    checks.append(Check("companies", not down, detail))
    if registry is None:  # the last two read the registry
        checks += [_cluster(beat_within), _queue(queue_age)]
    return Health(checks)


def _answers(alias: str) -> str | None:
    """``None`` if the database of ``alias`` answers a ``SELECT 1``; else why not, in one line."""
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return None
    except DatabaseError as e:
        connection.close_if_unusable_or_obsolete()  # the next request connects afresh
        return f"{alias} does not answer: {' '.join(str(e).split())[:200]}"


def _cluster(within: float) -> Check:
    since = timezone.now() - timedelta(seconds=within)
    try:
        alive = ClusterBeat.objects.filter(beat_at__gte=since).count()
    except DatabaseError as e:
        return Check("cluster", False, f"cluster beats unreadable: {e}")
    if not alive:
        return Check("cluster", False, f"no cluster beat within {within:g} s: is a qcluster running?")
    return Check("cluster", True, f"{alive} cluster{'s' if alive != 1 else ''} beat within {within:g} s")


def _queue(max_age: float) -> Check:
    try:
        queued = BackgroundSession.objects.filter(status=Status.QUEUED).order_by("created_at")
        oldest = queued.values_list("id", "created_at").first()
    except DatabaseError as e:
        return Check("queue", False, f"queue unreadable: {e}")
    if oldest is None:
        return Check("queue", True, "nothing queued")
    waited = (timezone.now() - oldest[1]).total_seconds()
    if waited > max_age:
        return Check("queue", False, f"session {oldest[0]} queued {waited:.0f} s ago (over {max_age:g} s)")
    return Check("queue", True, f"oldest queued session waited {waited:.0f} s")
