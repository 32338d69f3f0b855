"""The cluster's side of the transport: the ORM broker's queue of session rows, and who holds what.

Called by the brokers (``brokers.py``) in a cluster's queue reader: they take
queued sessions, note which cluster took which (only a dead cluster's are ever
queued again), and beat for the cluster.
"""

import logging
import os
import sys
import time

from django.utils import timezone

from ..conf import app_settings
from .packages import package

logger = logging.getLogger("sessions_app.transport")

BEAT_EVERY = 15.0  # seconds between a cluster's beats (maintenance.CLUSTER_DEAD_AFTER is four of them)
_last_beat = 0.0


def take(limit: int) -> list[tuple[None, bytes]]:
    """For the ORM broker: take up to ``limit`` queued sessions for this cluster, as django-q2 packages.

    Their acknowledgement id is ``None``: a session needs none (its finish is the
    record), and django-q2's monitor acknowledges only a task that has one.
    """
    from ..models import BackgroundSession

    taken = BackgroundSession.objects.take(limit, cluster_name())
    return [(None, package(session_id, task_id)) for session_id, task_id in taken]


def anything_waiting(list_key: str) -> bool:
    """For the ORM broker: is an untaken session or a plain task waiting? One query for both."""
    from ..models import BackgroundSession

    untaken = BackgroundSession.objects.untaken().order_by().values_list("pk")
    return bool(untaken.union(plain_tasks(list_key).order_by().values_list("pk"), all=True)[:1])


def plain_tasks(list_key: str):
    """django-q2's own queue rows (``async_task`` calls), on the registry."""
    from django_q.models import OrmQ

    return OrmQ.objects.using(app_settings.REGISTRY_ALIAS).filter(key=list_key, lock__lte=timezone.now())


def cluster_name() -> str:
    """This cluster's name, ``host:pid`` of its sentinel (the parent of the queue reader and the workers)."""
    return f"{app_settings.HOST}:{os.getppid()}"


def note_taken(session_ids: list[int]) -> None:
    """Record that this cluster took these sessions' tasks from the broker. Never raises."""
    from ..models import BackgroundSession

    try:
        if session_ids:
            BackgroundSession.objects.mark_taken(session_ids, cluster_name())
    except Exception:
        logger.exception("could not record the sessions this cluster took: %s", session_ids)
    beat()


def beat() -> None:
    """Say this cluster is alive, at most every ``BEAT_EVERY`` seconds. Never raises."""
    global _last_beat
    if time.monotonic() - _last_beat < BEAT_EVERY:
        return
    from ..models import ClusterBeat

    try:
        name, now = cluster_name(), timezone.now()
        if not ClusterBeat.objects.filter(name=name).update(beat_at=now):  # one statement, but for the first beat
            ClusterBeat.objects.get_or_create(name=name, defaults={"beat_at": now})
        _last_beat = time.monotonic()
    except Exception:
        logger.exception("could not write the cluster's beat")


# A worker killed while it waits for a task must not stall the others.

STALL_AFTER = 10.0  # seconds tasks may wait in django-q2's task queue while its read lock stays held
_task_queue = None
_stalled_since: float | None = None


def note_task_queue() -> None:
    """In a worker that django-q2 has just started (``post_spawn``): find the task queue it reads from."""
    global _task_queue
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "worker" and frame.f_globals.get("__name__") == "django_q.worker":
            _task_queue = frame.f_locals.get("task_queue")
            return
        frame = frame.f_back


def unstall() -> bool:
    """Release django-q2's task queue's read lock when the worker holding it is gone; return whether it was.

    The workers share one multiprocessing queue, and an idle worker holds its
    read lock while it waits for a task. A worker killed then (``kill -9``, the
    out-of-memory killer) leaves the lock held for ever: every other worker,
    and each one the cluster starts in its stead, waits for it, and the
    cluster runs nothing more, silently. A live holder takes a waiting task at
    once; tasks that wait while the lock stays held, look after look, for
    ``STALL_AFTER`` seconds mean its holder is gone, and the lock is released
    once. Called by the cluster's leader at each of its looks.
    """
    global _stalled_since
    try:
        stalled = _task_queue is not None and _task_queue.qsize() > 0 and _task_queue._rlock._semlock._get_value() == 0
    except (AttributeError, NotImplementedError, OSError):
        return False
    if not stalled:
        _stalled_since = None
        return False
    now = time.monotonic()
    if _stalled_since is None or now - _stalled_since < STALL_AFTER:
        _stalled_since = _stalled_since or now
        return False
    _stalled_since = None
    _task_queue._rlock.release()
    logger.error("django-q2's task queue was stalled: a worker died holding its read lock; released it")
    return True
