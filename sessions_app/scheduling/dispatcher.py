"""The dispatcher: starts due scheduled tasks and job queue entries, and learns how they ended.

It runs as a thread in every django-q2 worker process (started on
``post_spawn``, like the maintenance thread), so the cluster that runs
sessions also schedules them and no extra daemon is needed; only the
cluster's leader (``sessions_app.leader``) dispatches. Several clusters, or a
leader taking over from one that died, are harmless: every step is a
conditional update.
"""

import logging
import threading
import time
from datetime import timedelta

from django.db import connections
from django.db.models import Q

from sessions_app.leader import leadership
from sessions_app.pace import Pace

from . import clock, jobqueue, tasks
from .conf import app_settings
from .models import JobQueueEntry, JobStatus, ScheduledTask, TaskStatus

logger = logging.getLogger("sessions_app")


def run_once() -> dict:
    """One pass: settle finished runs first (freeing categories), then start what is due."""
    now = clock.now()
    tasks.settle(now)
    jobqueue.settle(now)
    return {"tasks": tasks.dispatch(now), "jobs": jobqueue.dispatch(now)}


def has_work(horizon) -> bool:
    """Is anything running, or due by ``horizon``? One query, so an idle cluster stays quiet."""
    tasks = ScheduledTask.objects.filter(
        Q(status=TaskStatus.RUNNING)
        | Q(status=TaskStatus.READY, not_before__lte=horizon)
        | Q(
            status=TaskStatus.FAILED,
            failure_codeunit_id__isnull=False,
            failure_session_id__isnull=True,
            failure_error="",
        )
    )
    waiting = (JobStatus.READY, JobStatus.WAITING)
    entries = JobQueueEntry.objects.filter(
        Q(status=JobStatus.IN_PROCESS)
        | Q(status__in=waiting, earliest_start__isnull=True)
        | Q(status__in=waiting, earliest_start__lte=horizon)
        | Q(status__in=waiting, expires_at__lte=horizon)
    )
    return bool(tasks.order_by().values_list("pk").union(entries.order_by().values_list("pk"), all=True)[:1])


def seconds_to_next() -> float:
    """How long the dispatcher may sleep: until the next due run, at most ``SCHEDULER_INTERVAL``."""
    interval = app_settings.SCHEDULER_INTERVAL
    due = [d for d in (tasks.next_due(), jobqueue.next_due()) if d is not None]
    if not due:
        return interval
    return max(0.01, min(interval, (min(due) - clock.now()).total_seconds()))


class DispatcherThread(threading.Thread):
    def __init__(self):
        super().__init__(name="sessions-dispatcher", daemon=True)
        self.pace = Pace()

    def run(self):
        while True:
            # Once nothing has run or fallen due for a while, a look comes every SCHEDULER_IDLE_INTERVAL.
            wait = self.pace.wait(app_settings.SCHEDULER_INTERVAL, app_settings.SCHEDULER_IDLE_INTERVAL)
            try:
                # One dispatcher per cluster (another worker takes over when it dies), and a full
                # pass only when something runs or falls due before the next look.
                if leadership().held() and has_work(clock.now() + timedelta(seconds=wait)):
                    self.pace.worked()
                    run_once()
                    wait = seconds_to_next()
            except Exception:
                logger.exception("dispatcher pass failed; trying again")
                connections.close_all()
            time.sleep(wait)


_thread: DispatcherThread | None = None


def start_in_worker(sender=None, **kwargs) -> None:
    """django-q2 ``post_spawn`` receiver: start the dispatcher thread in this worker process."""
    global _thread
    if _thread is None or not _thread.is_alive():
        _thread = DispatcherThread()
        _thread.start()
