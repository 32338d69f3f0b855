"""Housekeeping the cluster does by itself: lost sessions, abandoned ones, old ones.

Every django-q2 worker process runs ``MaintenanceThread`` (started on
django-q2's ``post_spawn`` signal), so no extra daemon or schedule is needed
and a check runs every few seconds while any worker lives. Each step is a
conditional update, so several workers doing it at once is harmless.
"""

import logging
import threading
import time
from datetime import timedelta

from django.db import connections
from django.utils import timezone

from .codeunits import registry
from .conf import app_settings
from .exceptions import SessionStartError, UnknownCodeunit
from .models import BackgroundSession, JobQueueLogEntry, ScheduledTask, SessionEvent, Status, TaskStatus

logger = logging.getLogger("sessions_app")

PRUNE_EVERY = 3600.0  # seconds
PRUNE_BATCH = 1000


def _sessions():
    return BackgroundSession.objects.using(app_settings.REGISTRY_ALIAS)


def mark_lost() -> list[int]:
    """Mark running sessions whose worker stopped sending heartbeats ``lost``; return their ids.

    The codeunit's open transaction died with its worker, so the database
    rolled its writes back. A codeunit registered with ``rerun_lost=True`` is
    started once more per loss.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=app_settings.LOST_AFTER)
    lost = []
    for s in _sessions().filter(status=Status.RUNNING, heartbeat_at__lt=stale).only("id", "heartbeat_at", "worker"):
        error = f"Worker {s.worker} stopped sending heartbeats (last at {s.heartbeat_at:%Y-%m-%d %H:%M:%S%z})."
        if (
            _sessions()
            .filter(pk=s.id, status=Status.RUNNING, heartbeat_at=s.heartbeat_at)
            .update(status=Status.LOST, finished_at=now, error=error)
        ):
            lost.append(s.id)
            SessionEvent.objects.using(app_settings.REGISTRY_ALIAS).create(
                session_id=s.id, kind=SessionEvent.Kind.LOST, message=error
            )
            logger.error("session=%s lost: %s", s.id, error)
            _rerun_if_asked(s.id)
    return lost


def _rerun_if_asked(session_id: int) -> None:
    from .api import start_session

    s = _sessions().get(pk=session_id)
    try:
        cu = registry.get(s.codeunit_id)
    except UnknownCodeunit:
        return
    if not cu.rerun_lost:
        return
    try:
        # The key makes the re-run unique per loss, whichever worker gets here first.
        again = start_session(
            cu,
            company=s.company,
            params=s.params,
            timeout=s.timeout,
            key=f"rerun-of-{s.id}",
            user=None,
            debug=False,
            rerun_of=s.id,
        )
    except SessionStartError as e:
        logger.error("session=%s could not be re-run: %s", s.id, e)
        return
    if s.user_id is not None:
        _sessions().filter(pk=again.id).update(user_id=s.user_id, username=s.username)
    SessionEvent.objects.using(app_settings.REGISTRY_ALIAS).create(
        session_id=s.id, kind=SessionEvent.Kind.RERUN, message=f"re-run as session {again.id}"
    )


def cancel_abandoned() -> int:
    """Cancel sessions that have waited for their caller's commit longer than ``PENDING_MAX_AGE``."""
    cutoff = timezone.now() - app_settings.PENDING_MAX_AGE
    ids = list(_sessions().filter(status=Status.PENDING, created_at__lt=cutoff).values_list("id", flat=True))
    for session_id in ids:
        if (
            _sessions()
            .filter(pk=session_id, status=Status.PENDING)
            .update(status=Status.CANCELLED, finished_at=timezone.now())
        ):
            SessionEvent.objects.using(app_settings.REGISTRY_ALIAS).create(
                session_id=session_id,
                kind=SessionEvent.Kind.CANCELLED,
                message=f"the caller never committed within {app_settings.PENDING_MAX_AGE}",
            )
    return len(ids)


def requeue_stranded(batch: int = 100) -> list[int]:
    """Queue again sessions queued longer than ``REQUEUE_AFTER``; return their ids.

    A cluster killed with ``kill -9`` takes the tasks it had fetched with it (a
    Redis pop, or an ORM queue row locked until django-q2's long ``retry``).
    Queuing such a session again is safe even when its first task was only
    slow: the worker's claim runs a session once, and refuses the other copy.
    """
    from . import queue

    cutoff = timezone.now() - app_settings.REQUEUE_AFTER
    requeued = []
    stale = _sessions().filter(status=Status.QUEUED, queued_at__lt=cutoff).order_by("id")[:batch]
    for s in stale:
        task_id = queue.new_task_id()
        if (
            not _sessions()
            .filter(pk=s.id, status=Status.QUEUED, queued_at=s.queued_at)
            .update(queued_at=timezone.now(), task_id=task_id)
        ):
            continue
        s.task_id = task_id
        try:
            queue.push(queue.build_package(s))
        except Exception:
            logger.exception("session=%s could not be queued again", s.id)
            continue
        requeued.append(s.id)
        SessionEvent.objects.using(app_settings.REGISTRY_ALIAS).create(
            session_id=s.id, kind=SessionEvent.Kind.QUEUED, message=f"queued again after {app_settings.REQUEUE_AFTER}"
        )
        logger.warning("session=%s queued again: still queued after %s", s.id, app_settings.REQUEUE_AFTER)
    return requeued


def prune(older_than: timedelta) -> int:
    """Delete finished sessions (and their events) that finished before ``now - older_than``."""
    cutoff = timezone.now() - older_than
    total = 0
    while True:
        ids = list(_sessions().finished().filter(finished_at__lt=cutoff).values_list("id", flat=True)[:PRUNE_BATCH])
        if not ids:
            return total
        SessionEvent.objects.using(app_settings.REGISTRY_ALIAS).filter(session_id__in=ids).delete()
        total += _sessions().filter(pk__in=ids).delete()[1].get(BackgroundSession._meta.label, 0)


def prune_schedule(older_than: timedelta) -> int:
    """Delete finished scheduled tasks and job queue log entries older than ``now - older_than``."""
    cutoff = timezone.now() - older_than
    finished = (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED)
    tasks = ScheduledTask.objects.using(app_settings.REGISTRY_ALIAS)
    logs = JobQueueLogEntry.objects.using(app_settings.REGISTRY_ALIAS)
    deleted = tasks.filter(status__in=finished, finished_at__lt=cutoff).delete()[0]
    return deleted + logs.filter(finished_at__lt=cutoff).delete()[0]


def run_once(prune_now: bool = False) -> dict:
    """One pass of every check; return what it did."""
    done = {"lost": mark_lost(), "abandoned": cancel_abandoned(), "requeued": requeue_stranded(), "pruned": 0}
    days = app_settings.RETENTION_DAYS
    if prune_now and days is not None:
        done["pruned"] = prune(timedelta(days=days))
        prune_schedule(timedelta(days=days))
    return done


class MaintenanceThread(threading.Thread):
    def __init__(self):
        super().__init__(name="sessions-maintenance", daemon=True)
        self.last_prune = 0.0

    def run(self):
        while True:
            time.sleep(app_settings.MAINTENANCE_INTERVAL)
            try:
                prune_now = time.monotonic() - self.last_prune >= PRUNE_EVERY
                run_once(prune_now=prune_now)
                if prune_now:
                    self.last_prune = time.monotonic()
            except Exception:
                logger.exception("sessions maintenance failed; trying again")
                connections.close_all()


_thread: MaintenanceThread | None = None


def start_in_worker(sender=None, **kwargs) -> None:
    """django-q2 ``post_spawn`` receiver: start the maintenance thread in this worker process."""
    global _thread
    if _thread is None or not _thread.is_alive():
        _thread = MaintenanceThread()
        _thread.start()
