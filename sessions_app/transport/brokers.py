"""The brokers a ``Q_CLUSTER["broker_class"]`` names: django-q2's, handing workers only what this app runs.

django-q2 runs whatever function a signed package names. These subclasses of
its ORM and Redis brokers screen each package as it is taken from the queue:
a package whose signature does not verify, or that names a function not in
``SESSIONS_ALLOWED_TASKS``, never reaches a worker; it is dropped and recorded
as a ``RefusedTask`` row. Payloads are verified before they are unpickled.

They also note which cluster took which sessions (one update per batch) and
beat for the cluster, so the cluster's check queues again only the sessions
of a cluster that died, never those merely waiting in a long queue. Settings
name them ``sessions_app.brokers.GuardedORM`` and ``...GuardedRedis``.
"""

import time

from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections, connections
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.signing import SignedPackage
from django_q.utils import get_func_repr

from ..conf import app_settings
from ..pace import Pace
from .cluster import anything_waiting, beat, logger, note_taken, take
from .packages import TASK_FUNC


def refusal(payload) -> tuple[str, str] | None:
    """Return ``(reason, function)`` if ``payload`` must not run, else ``None``."""
    return screen(payload)[1]


def screen(payload) -> tuple[int | None, tuple[str, str] | None]:
    """Return ``(session id or None, refusal or None)`` for a queued package."""
    try:
        task = SignedPackage.loads(payload)
    except Exception as e:  # a bad signature is refused before anything is unpickled
        return None, (f"the package does not verify: {type(e).__name__}", "")
    func = task.get("func") if isinstance(task, dict) else None
    name = func if isinstance(func, str) else get_func_repr(func) if callable(func) else repr(func)
    if name not in app_settings.ALLOWED_TASKS:
        return None, (f"function {name!r} is not allowed (SESSIONS_ALLOWED_TASKS)", name)
    if name == TASK_FUNC:
        args = task.get("args")
        if not (isinstance(args, tuple) and len(args) == 1 and type(args[0]) is int and not task.get("kwargs")):
            return None, ("a session task must carry exactly one session id", name)
        return args[0], None
    return None, None


def _record(reason: str, func: str, broker: str) -> None:
    from ..models import RefusedTask

    logger.error("refused a queued task: %s", reason)
    try:
        RefusedTask.objects.create(reason=reason[:500], func=func[:300], broker=broker)
    except Exception:
        logger.exception("could not record a refused task")


class _Screening:
    label = ""

    def dequeue(self):
        tasks = super().dequeue()
        if not tasks:
            beat()
            return tasks
        allowed = []
        sessions = []
        for ack_id, payload in tasks:
            session_id, refused = screen(payload)
            if refused is None:
                allowed.append((ack_id, payload))
                if session_id is not None:
                    sessions.append(session_id)
                continue
            _record(*refused, broker=self.label)
            if ack_id is not None:
                self.delete(ack_id)
        # Which cluster holds which sessions: only a dead cluster's are ever queued again.
        note_taken(sessions)
        return allowed


class GuardedORM(_Screening, ORM):
    """django-q2's ORM broker, screening what it hands out, that also serves queued sessions from their rows.

    Sessions come first, built from their registry rows (``transport.take``);
    plain tasks (``async_task``, ``SESSIONS_ALLOWED_TASKS``) come from django-q2's
    own queue table, looked at in each round, without its idle pause when
    sessions were found. Once nothing has come for ``SESSIONS_IDLE_AFTER``
    seconds, it asks one question for both every ``SESSIONS_IDLE_POLL`` seconds.
    """

    label = "orm"

    @staticmethod
    def get_connection(list_key: str | None = None):
        """django-q2's, except that it never closes a connection inside a caller's transaction.

        django-q2 calls ``close_old_connections()`` here, which closes every
        connection whose autocommit differs from its setting: a caller's
        company connection inside ``transaction.atomic`` is closed, and its
        uncommitted work silently lost, by the first ``start_session`` of a
        process (which makes the broker). Stale connections are closed only
        when no connection of this thread is inside an atomic block.
        """
        if not any(conn.in_atomic_block for conn in connections.all(initialized_only=True)):
            close_old_connections()
        return OrmQ.objects.using(Conf.ORM)

    @property
    def pace(self) -> Pace:
        # Made on first use: django-q2 pickles a broker without its other attributes.
        if "_pace" not in self.__dict__:
            self._pace = Pace()
        return self._pace

    def dequeue(self):
        if self.pace.quiet() and not anything_waiting(self.list_key):
            beat()
            time.sleep(app_settings.IDLE_POLL)
            return None
        sessions = take(Conf.BULK)
        if not sessions:
            tasks = super().dequeue()  # django-q2's queue table; it pauses for the poll interval when empty
            if tasks:
                self.pace.worked()
            return tasks
        self.pace.worked()
        beat()
        if self.get_connection().filter(key=self.list_key, lock__lt=timezone.now()).exists():
            sessions += super().dequeue() or []
        return sessions


try:
    from django_q.brokers.redis_broker import Redis
    from redis.exceptions import ResponseError
except ImportError:  # the redis package is an extra: pip install 'django-background-sessions[redis]'
    ResponseError = Exception

    class Redis:
        def __init__(self, *args, **kwargs):
            raise ImproperlyConfigured(
                "The Redis broker needs the redis package: pip install 'django-background-sessions[redis]'."
            )


class _BatchedRedis(Redis):
    """django-q2's Redis broker, a batch at a time.

    django-q2's pops one task, waiting up to a second for it. When one came,
    up to ``Q_CLUSTER["bulk"]`` - 1 more that wait behind it are popped at
    once (``LPOP`` with a count, Redis 6.2 and later), so one note of which
    cluster took which sessions serves the batch, not one update per session.
    """

    def dequeue(self):
        tasks = super().dequeue()
        if tasks and Conf.BULK > 1:
            try:
                more = self.connection.lpop(self.list_key, Conf.BULK - 1)
            except ResponseError:  # a Redis before 6.2: one at a time
                more = None
            tasks += [(None, payload) for payload in more or ()]
        return tasks


class GuardedRedis(_Screening, _BatchedRedis):
    """django-q2's Redis broker, screening what it hands out, a batch at a time (``_BatchedRedis``)."""

    label = "redis"

    def delete(self, task_id):  # a Redis task is gone once popped
        return None
