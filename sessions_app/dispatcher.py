"""The dispatcher: starts due scheduled tasks and job queue entries, and learns how they ended.

It runs as a thread in every django-q2 worker process (started on
``post_spawn``, like the maintenance thread), so the cluster that runs
sessions also schedules them and no extra daemon is needed. Several
dispatchers at once are harmless: every step is a conditional update.
"""

import logging
import threading
import time

from django.db import connections

from . import clock, jobqueue, tasks
from .conf import app_settings

logger = logging.getLogger("sessions_app")


def run_once() -> dict:
    """One pass: settle finished runs first (freeing categories), then start what is due."""
    now = clock.now()
    tasks.settle(now)
    jobqueue.settle(now)
    return {"tasks": tasks.dispatch(now), "jobs": jobqueue.dispatch(now)}


def seconds_to_next() -> float:
    """How long the dispatcher may sleep: until the next due run, at most ``SCHEDULER_INTERVAL``."""
    interval = app_settings.SCHEDULER_INTERVAL
    due = [d for d in (tasks.next_due(), jobqueue.next_due()) if d is not None]
    if not due:
        return interval
    return max(0.01, min(interval, (min(due) - clock.now()).total_seconds()))


def origin(session) -> str:
    """What scheduled ``session``, read from its origin: "scheduled task 5, attempt 2", or ``""``."""
    from .models import JobQueueEntry, ScheduledTask

    kind, _, rest = (session.origin or "").partition(":")
    number, _, which = rest.partition(":")
    if not number.isdigit() or len(number) > 18:
        return ""
    if kind == "task":
        task = ScheduledTask.objects.filter(pk=int(number), company=session.company).first()
        if task is not None:
            return f"scheduled task {task.id}, " + (
                "its failure codeunit" if which == "failure" else f"attempt {which}"
            )
    if kind == "job":
        entry = JobQueueEntry.objects.filter(pk=int(number), company=session.company).first()
        if entry is not None:
            return f"job queue entry {entry.id} ({entry.description or entry.codeunit_name}), run {which}"
    return ""


class DispatcherThread(threading.Thread):
    def __init__(self):
        super().__init__(name="sessions-dispatcher", daemon=True)

    def run(self):
        while True:
            wait = app_settings.SCHEDULER_INTERVAL
            try:
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
