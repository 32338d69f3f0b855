"""The transport under the sessions: django-q2, and the only package of the app that knows it.

The rest of the app calls this small interface and nothing of django-q2, so
an upgrade of django-q2 touches this package alone (``tests/test_layers.py``
checks that no other module imports ``django_q``; ``tests/test_django_q2_contract.py``
pins every name of it used here). Its modules are split by who calls them:
``packages.py`` what travels (the producer's side), ``cluster.py`` and
``brokers.py`` the cluster's queue reader, this module the door to both:

* ``new_task_id()``, ``publish(session)``: hand a committed queued session to
  the broker, as one small signed package that carries only its id;
* ``take(limit)``: the ORM broker's batch, queued session rows this cluster takes;
* ``note_taken(session_ids)``, ``beat()``: which cluster holds which sessions,
  and that it is alive (only a dead cluster's sessions are queued again);
* ``cluster_name()``: who this cluster is;
* ``waiting()``, ``is_empty()``, ``anything_waiting()``, ``can_lose_tasks()``:
  what the broker holds;
* ``on_worker_start(receiver)``: django-q2's ``post_spawn``, where the checks
  and the dispatcher start; ``note_task_queue()`` and ``unstall()``: a worker
  killed while it waited for a task never stalls the others;
* ``hide_admin()``: django-q2's own pages out of the admin;
* ``broker_class(q_cluster)``, ``is_broker``, ``is_plain_orm``, ``screens``: what
  a ``Q_CLUSTER`` selects, for the system checks;
* ``brokers.GuardedORM``, ``brokers.GuardedRedis``: the brokers a
  ``Q_CLUSTER["broker_class"]`` names (as ``sessions_app.brokers.*``).

``async_task`` is not used (``packages.py`` says why). With the ORM broker a
queued session's own registry row is its queue entry: the broker takes untaken
rows and builds their packages as it hands them out, so a session costs no
queue row to insert, lock and delete. The Redis broker gets a plain ``RPUSH``,
only after the session row is committed, so a worker always finds it.
django-q2's modules are imported when first needed, never when this package
is: it may be imported before the app registry is ready.
"""

import logging

from .cluster import anything_waiting, beat, cluster_name, note_taken, note_task_queue, plain_tasks, take, unstall
from .packages import TASK_FUNC, new_task_id, package

logger = logging.getLogger("sessions_app.transport")

APP_LABEL = "django_q"
"""django-q2's app label: its tables live in the registry (``companies.CompanyRouter``)."""

__all__ = [
    "TASK_FUNC",
    "anything_waiting",
    "beat",
    "cluster_name",
    "new_task_id",
    "note_taken",
    "package",
    "take",
    "note_task_queue",
    "unstall",
]

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


# The producer's side: api.start_session, and the checks that queue a session again.


def publish(session) -> None:
    """Hand a committed queued session to the broker. Raise on any broker failure.

    With the ORM broker its committed row is its queue entry already: nothing to do.
    """
    if not uses_orm_broker():
        broker().enqueue(package(session.id, session.task_id))


def can_lose_tasks() -> bool:
    """Can the broker lose a task no cluster took (a Redis restart)? Not when the registry row is the task."""
    return not uses_orm_broker()


def waiting() -> int:
    """Tasks waiting in the broker, taken ones aside: untaken queued sessions and the broker's own queue."""
    b = broker()
    if uses_orm_broker():
        from ..models import BackgroundSession

        return BackgroundSession.objects.untaken().count() + plain_tasks(b.list_key).count()
    return b.queue_size()


def is_empty() -> bool:
    """True when no task waits in the broker (taken ones aside)."""
    return waiting() == 0


# The cluster's processes and the admin.


def on_worker_start(receiver, uid: str) -> None:
    """Call ``receiver()`` in every worker process django-q2 starts (``post_spawn``), once per ``uid``."""
    from django_q.signals import post_spawn

    post_spawn.connect(receiver, dispatch_uid=uid)


def hide_admin(site=None) -> None:
    """Take django-q2's own pages out of the admin: its queued, failed and successful tasks, its schedules.

    Sessions are the one queue users see here: django-q2's rows are the
    transport under them, and its schedules would run any dotted path, which
    the guarded brokers refuse (scheduling is done through codeunits). Its
    ``admin`` module is imported first, so its registrations have happened
    whichever app the admin discovers first, and its later discovery adds nothing back.
    """
    from django.apps import apps
    from django.contrib import admin

    if not apps.is_installed(APP_LABEL) or not apps.is_installed("django.contrib.admin"):
        return
    import django_q.admin  # noqa: F401  (registers its models now, once)
    from django_q.models import Failure, OrmQ, Schedule, Success

    site = site or admin.site
    for model in (Failure, OrmQ, Schedule, Success):
        if site.is_registered(model):
            site.unregister(model)


# What a Q_CLUSTER selects, for the system checks.


def broker_class(q_cluster: dict):
    """The broker class ``q_cluster`` selects, as ``django_q.brokers.get_broker`` picks it; raise ``ImportError``.

    ``None`` for a broker this app does not queue on (IronMQ, SQS, MongoDB).
    django-q2 reads ``Q_CLUSTER`` once, at import, so the checks cannot ask it
    about the settings they are given; the contract test compares this with
    ``get_broker()`` for the settings in force.
    """
    from django.utils.module_loading import import_string

    path = q_cluster.get("broker_class")
    if path:
        return import_string(path)
    if q_cluster.get("iron_mq") or isinstance(q_cluster.get("sqs"), dict) or q_cluster.get("mongo"):
        return None
    if q_cluster.get("orm"):
        from django_q.brokers.orm import ORM

        return ORM
    from django_q.brokers.redis_broker import Redis

    return Redis


def is_broker(cls) -> bool:
    from django_q.brokers import Broker

    return isinstance(cls, type) and issubclass(cls, Broker)


def is_plain_orm(cls) -> bool:
    """django-q2's ORM broker without the app's: it would never read a queued session's row."""
    from django_q.brokers.orm import ORM

    from .brokers import GuardedORM

    return issubclass(cls, ORM) and not issubclass(cls, GuardedORM)


def screens(cls) -> bool:
    """Does the broker screen what it hands out (``GuardedORM``, ``GuardedRedis``)?"""
    from .brokers import GuardedORM, GuardedRedis

    return issubclass(cls, (GuardedORM, GuardedRedis))


GUARDED_ORM = "sessions_app.brokers.GuardedORM"
GUARDED_REDIS = "sessions_app.brokers.GuardedRedis"
"""The brokers' paths as settings name them."""
