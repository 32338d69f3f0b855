"""Django's task API on background sessions: every ``@task`` function runs as a session.

    TASKS = {"default": {"BACKEND": "sessions_app.backends.SessionsBackend"}}

An enqueued task becomes a session of the codeunit "Django Task"
(``SESSIONS_TASK_CODEUNIT_ID``, default 2000000100) whose parameters name the
function and carry its arguments as JSON. So it has what every session has: its
own transaction in one company, the registry row, the admin, stop, timeout,
lost detection (a lost task runs once more: its first attempt's writes never
commit) and the log. ``TaskResult.id`` is the session's id; its attempts are
that session and the engine's re-run of it, never a re-run a user started
(which is a task result of its own).

``OPTIONS``: ``COMPANY`` (default: the current company at enqueue time),
``TIMEOUT`` (seconds; default ``SESSIONS_DEFAULT_TIMEOUT``) and ``ON_COMMIT``
(default ``True``: a task enqueued inside a transaction is queued when it
commits and cancelled when it rolls back). ``run_after`` needs
``sessions_app.scheduling``: the task becomes a scheduled task, and its result
id is ``task:<id>``.

A worker runs only functions declared with ``@task`` for a backend of this
class, in a module of an installed app: the stored path is looked up among
those, never imported as it stands.

On Django 6 this is ``django.tasks``; on Django 5.2 the ``django-tasks`` backport.
"""

import importlib
from typing import NamedTuple

from django.apps import apps

try:
    from django.tasks import TaskContext, TaskResult, TaskResultStatus
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import TaskError
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
except ImportError:  # Django 5.2: the backport
    from django_tasks import TaskContext, TaskResult, TaskResultStatus
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import TaskError
    from django_tasks.exceptions import InvalidTaskError as InvalidTask
    from django_tasks.exceptions import TaskResultDoesNotExist
    from django_tasks.signals import task_enqueued, task_finished, task_started

from . import api, deferral, signals
from .codeunits import registry
from .conf import app_settings
from .models import BackgroundSession, GroupPolicy, SessionGroup, Status
from .origins import RERUN
from .records import Json, ParameterRecord, Text

BACKEND_PATH = "sessions_app.backends.SessionsBackend"
CODEUNIT_NAME = "Django Task"

_STATUS = {
    Status.PENDING: TaskResultStatus.READY,
    Status.QUEUED: TaskResultStatus.READY,
    Status.RUNNING: TaskResultStatus.RUNNING,
    Status.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
}
# What a task's errors name when the session ended without an exception of the task's own.
_ENDED_BY = {
    Status.STOPPED: "sessions_app.exceptions.SessionStopped",
    Status.TIMED_OUT: "sessions_app.exceptions.SessionStopped",
    Status.CANCELLED: "sessions_app.exceptions.SessionStopped",
    Status.LOST: "sessions_app.exceptions.SessionLost",
}


class TaskGroup(NamedTuple):
    """What ``SessionsBackend.enqueue_group`` returns: the group, and each member's task result in order."""

    group: SessionGroup
    results: list


_tasks: dict[str, object] = {}
"""Every ``Task`` validated by a backend of this class in this process, by module path."""


class TaskCall(ParameterRecord):
    """The parameters of a "Django Task" session: which function, with what."""

    task = Text(300, label="Task (module path)")
    args = Json(list, default=list, required=False)
    kwargs = Json(dict, default=dict, required=False)
    backend = Text(100, default="default", required=False)
    queue_name = Text(100, default="default", required=False)


def codeunit_id() -> int:
    return app_settings.TASK_CODEUNIT_ID


def register_codeunit() -> None:
    """Register "Django Task" (``SessionsConfig.ready`` does, when ``TASKS`` names this backend)."""
    from .codeunits import codeunit

    if codeunit_id() not in registry:
        codeunit(codeunit_id(), CODEUNIT_NAME, params=TaskCall, rerun_lost=True)(run_task)
    signals.session_finished.connect(send_task_finished, dispatch_uid="sessions_app.backends.task_finished")


def send_task_finished(sender, session: BackgroundSession, **kwargs) -> None:
    """Django's ``task_finished``, once the session of a task's attempt has finished and its outcome is recorded.

    Sent in the process that recorded it, as Django's own backends send it
    where the task ran; a task result is ``SUCCESSFUL`` only once its work
    committed. A session cancelled before it started never ran: nothing is sent.
    """
    if session.codeunit_id != codeunit_id() or session.started_at is None:
        return
    call = TaskCall.validate(session.params)
    backend = _find_task(call.task).using(backend=call.backend, queue_name=call.queue_name).get_backend()
    if isinstance(backend, SessionsBackend):
        task_finished.send(type(backend), task_result=backend.result_of(session))


def _find_task(path: str):
    """The ``Task`` declared at ``path`` for this backend; a module of an installed app may be imported to find it."""
    found = _tasks.get(path)
    if found is None:
        module = path.rpartition(".")[0]
        if module and apps.get_containing_app_config(module) is not None:
            try:
                importlib.import_module(module)
            except ImportError:
                pass
            found = _tasks.get(path)
    if found is None:
        raise LookupError(f"{path!r} is not a @task function of a sessions backend in an installed app.")
    return found


def run_task(rec, session):
    """Run a ``@task`` function with its arguments: the codeunit every enqueued task runs as."""
    task = _find_task(rec.task)
    if rec.backend != task.backend or rec.queue_name != task.queue_name:
        task = task.using(backend=rec.backend, queue_name=rec.queue_name)
    backend = task.get_backend()
    result = backend.result_of(session.row)
    task_started.send(type(backend), task_result=result)
    if task.takes_context:
        return task.call(TaskContext(task_result=result), *rec.args, **rec.kwargs)
    return task.call(*rec.args, **rec.kwargs)


class SessionsBackend(BaseTaskBackend):
    """A ``django.tasks`` backend whose tasks are background sessions."""

    supports_defer = True
    supports_async_task = False
    supports_get_result = True
    supports_priority = False

    def __init__(self, alias, params):
        super().__init__(alias, params)
        self.company = self.options.get("COMPANY")
        self.timeout = self.options.get("TIMEOUT")
        self.on_commit = self.options.get("ON_COMMIT", True)

    def validate_task(self, task):
        super().validate_task(task)
        if task.run_after is not None and deferral.get() is None:
            raise InvalidTask("run_after needs 'sessions_app.scheduling' in INSTALLED_APPS.")
        _tasks.setdefault(task.module_path, task)

    def _call(self, task, args, kwargs) -> dict:
        """The "Django Task" parameters of one call of ``task``."""
        self.validate_task(task)
        if codeunit_id() not in registry:
            raise InvalidTask(f"The codeunit {CODEUNIT_NAME!r} is not registered: is {BACKEND_PATH!r} in TASKS?")
        return {
            "task": task.module_path,
            "args": list(args),
            "kwargs": dict(kwargs),
            "backend": self.alias,
            "queue_name": task.queue_name,
        }

    def enqueue(self, task, args, kwargs):
        params = self._call(task, args, kwargs)
        if task.run_after is not None:
            prepared = api.prepare_start(codeunit_id(), self.company, params, self.timeout)
            result_id = deferral.get().enqueue(
                codeunit=prepared.codeunit.id,
                company=prepared.company.name,
                params=params,
                timeout=prepared.timeout,
                not_before=task.run_after,
            )
        else:
            session = api.start_session(
                codeunit_id(), company=self.company, params=params, timeout=self.timeout, on_commit=self.on_commit
            )
            result = self.result_of(session)
            task_enqueued.send(type(self), task_result=result)
            return result
        result = self.get_result(result_id)
        task_enqueued.send(type(self), task_result=result)
        return result

    def enqueue_group(self, calls, *, then=None, policy=GroupPolicy.ALL_SUCCEEDED, name: str = "") -> TaskGroup:
        """Enqueue ``calls`` as one group of sessions; once the last has ended, run ``then`` once.

        ``calls`` and ``then``: ``(task, args, kwargs)`` each, ``args`` and
        ``kwargs`` optional. ``then`` reads the members' outcomes with
        ``running_session().group.outcomes()``; ``policy`` as ``start_group``'s.
        Django's task API has no groups: this is the backend's own door to
        ``api.start_group``, and returns the group with each member's
        ``TaskResult``. A task with ``run_after`` cannot be a member.
        ``ON_COMMIT`` does not apply: like ``start_group``, the members are
        queued at once, even inside the caller's transaction.
        """

        def params(call):
            call = tuple(call) if isinstance(call, (tuple, list)) else (call,)
            task, args, kwargs = call + ((), {})[len(call) - 1 :]
            if task.run_after is not None:
                raise InvalidTask(f"{task.module_path} has run_after: a group's tasks cannot be deferred.")
            return self._call(task, args, kwargs)

        members = [params(call) for call in calls]
        group = api.start_group(
            codeunit_id(),
            params=members,
            company=self.company,
            timeout=self.timeout,
            then=None if then is None else codeunit_id(),
            then_params=None if then is None else params(then),
            policy=policy,
            name=name,
        )
        results = [self.result_of(s) for s in BackgroundSession.objects.filter(group_id=group.id).order_by("id")]
        for result in results:
            task_enqueued.send(type(self), task_result=result)
        return TaskGroup(group, results)

    def result_of(self, session: BackgroundSession):
        """The task result ``session`` belongs to; from the row in hand while it is its task's only attempt.

        A session started directly (no origin) is a first attempt, and no later
        one exists while it is new or running: the registry need not be read
        again (an enqueue and each run would otherwise read it three times).
        """
        if session.origin is None:
            return self._result(str(session.id), [session])
        return self.get_result(self.result_id_of(session.id))

    @staticmethod
    def result_id_of(session_id: int) -> str:
        """The id of the task result a session belongs to: the session the engine re-ran, or its scheduled task."""
        session = BackgroundSession.objects.get(pk=session_id)
        kind, _, rest = (session.origin or "").partition(":")
        if kind == "task":
            return f"task:{rest.partition(':')[0]}"
        if kind == RERUN and rest.isdecimal():
            return rest  # the engine re-runs a lost session once: the first attempt is the one it names
        return str(session.id)

    def _attempts(self, result_id) -> list[BackgroundSession]:
        result_id = str(result_id)
        if deferral.get() is not None and result_id.startswith("task:"):
            found = deferral.get().attempts(result_id)
            if found:
                return found
            raise TaskResultDoesNotExist(result_id)
        number = api.parse_session_id(result_id)
        registry = BackgroundSession.objects.all()
        first = None if number is None else registry.filter(pk=number, codeunit_id=codeunit_id()).first()
        if first is None:
            raise TaskResultDoesNotExist(result_id)
        again = registry.filter(id__gt=first.id, origin=f"{RERUN}:{first.id}").first()
        return [first] if again is None else [first, again]

    def get_result(self, result_id):
        return self._result(result_id, self._attempts(result_id))

    def _result(self, result_id, attempts: list[BackgroundSession]):
        try:
            call = TaskCall.validate(attempts[0].params)
            task = _find_task(call.task)
        except Exception as e:
            raise TaskResultDoesNotExist(f"{result_id}: {e}") from e
        if call.backend != task.backend or call.queue_name != task.queue_name:
            task = task.using(backend=call.backend, queue_name=call.queue_name)
        first, last = attempts[0], attempts[-1]
        errors = [
            TaskError(
                exception_class_path=s.error_type or _ENDED_BY.get(s.status, "sessions_app.exceptions.SessionError"),
                traceback=s.traceback or s.error or f"Session {s.id} {s.get_status_display().lower()}.",
            )
            for s in attempts
            if s.status not in _STATUS
        ]
        result = TaskResult(
            task=task,
            id=str(result_id),
            status=_STATUS.get(last.status, TaskResultStatus.FAILED),
            enqueued_at=first.created_at,
            started_at=next((s.started_at for s in attempts if s.started_at), None),
            finished_at=last.finished_at,
            last_attempted_at=last.started_at,
            args=call.args,
            kwargs=call.kwargs,
            backend=call.backend,
            errors=errors,
            worker_ids=[s.worker for s in attempts if s.worker],
        )
        object.__setattr__(result, "_return_value", last.result)
        return result
