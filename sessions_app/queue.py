"""Hand a session to django-q2: one small signed task carrying only the session id.

With ``brokers.py`` this is the only module that uses names django-q2 does not
document (``SignedPackage``, ``humanhash``, ``OrmQ``, ``list_key``); each one is
pinned down by ``tests/test_django_q2_contract.py``.

``async_task`` is not used: with the ORM broker it closes "stale" connections,
which can silently end a caller's open transaction on a company alias.

With the ORM broker a queued session's own registry row is its queue entry:
the broker takes untaken rows (``BackgroundSession.objects.take``) and builds
their packages as it hands them out, so a session costs no queue row to
insert, lock and delete. The Redis broker gets a plain ``RPUSH``, only after
the session row is committed, so a worker always finds it.
"""

import logging
import os
import socket
import time

from django.utils import timezone

from .conf import app_settings

logger = logging.getLogger("sessions_app")

TASK_FUNC = "sessions_app.runner.execute"
_broker = None


def broker():
    """Return django-q2's configured broker, made once per process."""
    global _broker
    if _broker is None:
        from django_q.brokers import get_broker

        _broker = get_broker()
    return _broker


def uses_orm_broker() -> bool:
    from django_q.brokers.orm import ORM

    return isinstance(broker(), ORM)


def new_task_id() -> str:
    from django_q.humanhash import uuid as q_uuid

    return q_uuid()[1]


def build_package(session) -> bytes:
    """Return the signed django-q2 package for ``session`` (its ``task_id`` must be set)."""
    return package(session.id, session.task_id)


def package(session_id: int, task_id: str) -> bytes:
    """Return the signed django-q2 package that runs session ``session_id`` as task ``task_id``."""
    from django_q.signals import pre_enqueue
    from django_q.signing import SignedPackage

    task = {
        "id": task_id,
        "name": f"session-{session_id}",
        "func": TASK_FUNC,
        "args": (session_id,),
        "kwargs": {},
        # The session's watcher enforces its timeout without raising into the
        # codeunit. django-q2's own timeout would (SIGALRM): it is switched off.
        "timeout": -1,
        "ack_failure": True,
        # The registry records the outcome; django-q2 need not save it again.
        "save": False,
        "started": timezone.now(),
    }
    pre_enqueue.send(sender="django_q", task=task)
    return SignedPackage.dumps(task)


def enqueue_session(session) -> None:
    """Hand a queued session to the broker. Raise on any broker failure.

    With the ORM broker its committed row is its queue entry already: nothing to do.
    """
    if not uses_orm_broker():
        broker().enqueue(build_package(session))


def take_sessions(limit: int) -> list[tuple[None, bytes]]:
    """For the ORM broker: take up to ``limit`` queued sessions for this cluster, as django-q2 packages.

    Their acknowledgement id is ``None``: a session needs none (its finish is the
    record), and django-q2's monitor acknowledges only a task that has one.
    """
    from .models import BackgroundSession

    taken = BackgroundSession.objects.take(limit, cluster_name())
    return [(None, package(session_id, task_id)) for session_id, task_id in taken]


def anything_waiting(list_key: str) -> bool:
    """For the ORM broker: is an untaken session or a plain task waiting? One query for both."""
    from django_q.models import OrmQ

    from .models import BackgroundSession, Mode, Status

    untaken = BackgroundSession.objects.filter(status=Status.QUEUED, fetched_by="", mode=Mode.BACKGROUND)
    rows = OrmQ.objects.using(app_settings.REGISTRY_ALIAS).filter(key=list_key, lock__lt=timezone.now())
    return bool(untaken.order_by().values_list("pk").union(rows.order_by().values_list("pk"), all=True)[:1])


def push(payload: bytes) -> None:
    """Put a signed package on the broker's own queue. Raise on any broker failure."""
    b = broker()
    if uses_orm_broker():
        from django_q.models import OrmQ

        OrmQ.objects.using(app_settings.REGISTRY_ALIAS).create(key=b.list_key, payload=payload, lock=timezone.now())
    else:
        b.enqueue(payload)


BEAT_EVERY = 15.0  # seconds between a cluster's beats (maintenance.CLUSTER_DEAD_AFTER is four of them)
_last_beat = 0.0


def cluster_name() -> str:
    """This cluster's name, ``host:pid`` of its sentinel (the parent of the queue reader and the workers)."""
    return f"{socket.gethostname()}:{os.getppid()}"


def note_fetched(session_ids: list[int]) -> None:
    """Record that this cluster took these sessions' tasks from the broker. Never raises."""
    from .models import BackgroundSession

    try:
        if session_ids:
            BackgroundSession.objects.mark_taken(session_ids, cluster_name())
    except Exception:
        logger.exception("could not record the sessions this cluster took: %s", session_ids)
    cluster_beat()


def cluster_beat() -> None:
    """Say this cluster is alive, at most every ``BEAT_EVERY`` seconds. Never raises."""
    global _last_beat
    if time.monotonic() - _last_beat < BEAT_EVERY:
        return
    from .models import ClusterBeat

    try:
        name, now = cluster_name(), timezone.now()
        if not ClusterBeat.objects.filter(name=name).update(beat_at=now):  # one statement, but for the first beat
            ClusterBeat.objects.get_or_create(name=name, defaults={"beat_at": now})
        _last_beat = time.monotonic()
    except Exception:
        logger.exception("could not write the cluster's beat")


def can_lose_tasks() -> bool:
    """Can the broker lose a task no cluster took (a Redis restart)? Not when the registry row is the task."""
    return not uses_orm_broker()


def waiting() -> int:
    """Tasks waiting in the broker, taken ones aside: untaken queued sessions and the broker's own queue."""
    b = broker()
    if uses_orm_broker():
        from django_q.models import OrmQ

        from .models import BackgroundSession, Mode, Status

        untaken = BackgroundSession.objects.filter(status=Status.QUEUED, fetched_by="", mode=Mode.BACKGROUND)
        rows = OrmQ.objects.using(app_settings.REGISTRY_ALIAS).filter(key=b.list_key, lock__lte=timezone.now())
        return untaken.count() + rows.count()
    return b.queue_size()


def broker_is_empty() -> bool:
    """True when no task waits in the broker (taken ones aside)."""
    return waiting() == 0
