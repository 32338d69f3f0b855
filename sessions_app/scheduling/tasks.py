"""The task scheduler: a codeunit run once, later, with retries and a failure codeunit.

Business Central's ``TaskScheduler.CreateTask``. A task is a row in the
registry; the dispatcher (``dispatcher.py``) starts each due task as an
ordinary background session and learns its outcome from the session row.
Every step is a conditional update on the task's status and attempt number,
and each attempt's session has the idempotency key ``task-<id>-<attempt>``,
so dispatchers in several workers never start one attempt twice, and a
dispatcher that died between the two steps is repaired by the next one.
"""

import logging
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.utils import timezone

from sessions_app import api, retry
from sessions_app.access import can_access, load_user
from sessions_app.codeunits import registry
from sessions_app.exceptions import RecordValidationError, SessionStartError, UnknownCodeunit
from sessions_app.models import BackgroundSession, Status
from sessions_app.records import NoParameters

from . import clock
from .conf import app_settings
from .exceptions import TaskNotFound
from .models import ACTIVE_TASK_STATUSES, ScheduledTask, TaskStatus

logger = logging.getLogger("sessions_app")

BATCH = 50


def create_task(
    codeunit,
    *,
    failure_codeunit=None,
    ready: bool = True,
    company=None,
    not_before: datetime | None = None,
    params=None,
    timeout=None,
    user=None,
) -> int:
    """Schedule ``codeunit`` to run once in a background session; return the task id.

    It runs at the first chance on or after ``not_before`` (default: now), once
    it is ready. Company, parameters, timeout and user are checked as
    ``start_session`` checks them, and ``SessionStartError`` is raised with
    nothing written. If it fails (after retries, for a retriable error),
    ``failure_codeunit`` runs in a new session in the same company; it gets
    the task's parameters when its record accepts them, and the task with its
    error as ``session.failed_task``.
    """
    prepared = api.prepare_start(codeunit, company, params, timeout, user)
    failure = None
    if failure_codeunit is not None:
        try:
            failure = registry.get(failure_codeunit)
        except UnknownCodeunit as e:
            raise SessionStartError("unknown_codeunit", f"Failure codeunit: {e}") from e
        if failure.params is not NoParameters:
            try:
                failure.params.validate(prepared.record.to_json())
            except RecordValidationError as e:
                raise SessionStartError(
                    "invalid_params",
                    f"The failure codeunit {failure} does not accept the task's parameters: {e}",
                    errors=e.errors,
                ) from e
    when = clock.aware(not_before, "not_before") or clock.now()
    task = ScheduledTask(
        codeunit_id=prepared.codeunit.id,
        codeunit_name=prepared.codeunit.name,
        failure_codeunit_id=failure.id if failure else None,
        failure_codeunit_name=failure.name if failure else "",
        company=prepared.company.name,
        params=prepared.record.to_json(generated=False),
        user=prepared.user,
        username=prepared.user.get_username() if prepared.user is not None else "",
        timeout=prepared.timeout,
        status=TaskStatus.READY if ready else TaskStatus.NOT_READY,
        not_before=when,
    )
    try:
        task.save(using=app_settings.REGISTRY_ALIAS, force_insert=True)
    except Exception as e:
        raise SessionStartError("unavailable", f"The session registry is unavailable: {e}") from e
    logger.info("task=%s %s in %s scheduled for %s (%s)", task.id, task.codeunit_name, task.company, when, task.status)
    return task.id


def get_task(task_id) -> ScheduledTask:
    number = api.parse_session_id(task_id)
    task = None if number is None else ScheduledTask.objects.filter(pk=number).first()
    if task is None:
        raise TaskNotFound(task_id)
    return task


def task_exists(task_id) -> bool:
    """True while the task has yet to finish: not ready, ready or running (as ``TaskScheduler.TaskExists``)."""
    number = api.parse_session_id(task_id)
    return number is not None and ScheduledTask.objects.filter(pk=number, status__in=ACTIVE_TASK_STATUSES).exists()


def _may_change(task_id, user) -> bool:
    """Without a user, yes (code and commands); with one, the change permission and the task's company."""
    if user is None or not getattr(user, "is_authenticated", False):
        return True
    company = ScheduledTask.objects.filter(pk=task_id).values_list("company", flat=True).first()
    return (
        company is not None and user.has_perm("sessions_scheduling.change_scheduledtask") and can_access(user, company)
    )


def set_task_ready(task_id, not_before: datetime | None = None, user=None) -> bool:
    """Make a task ready to run (at or after ``not_before`` if given).

    False if there is no such task, it has started or finished, or ``user`` may not change it.
    """
    number = api.parse_session_id(task_id)
    if number is None or not _may_change(number, user):
        return False
    return ScheduledTask.objects.set_ready(number, clock.aware(not_before, "not_before"))


def cancel_task(task_id, user=None) -> bool:
    """Cancel a task that has not finished; a running one's session is stopped.

    False if there is no such task, it has finished, or ``user`` may not change it.
    """
    number = api.parse_session_id(task_id)
    if number is None or not _may_change(number, user):
        return False
    if ScheduledTask.objects.cancel_waiting(number):
        logger.info("task=%s cancelled before it started", number)
        return True
    task = ScheduledTask.objects.filter(pk=number, status=TaskStatus.RUNNING).first()
    if task is None or not ScheduledTask.objects.cancel_running(number, task.attempts):
        return False
    if task.session_id is not None:  # the right to cancel the task is the right to stop its session
        who = f" by {user.get_username()}" if user is not None and getattr(user, "is_authenticated", False) else ""
        api.request_stop(task.session_id, comment=f"task {number} cancelled{who}")
    logger.info("task=%s cancelled while running", number)
    return True


# The dispatcher's side.


@contextmanager
def isolated(what: str):
    """Log and skip one row's failure, so that one bad row cannot stop the dispatcher for all the others."""
    try:
        yield
    except Exception:
        logger.exception("%s failed; the dispatcher goes on with the others", what)


def dispatch(now: datetime) -> list[int]:
    """Start every task that is due; return their ids."""
    started = []
    due = ScheduledTask.objects.filter(status=TaskStatus.READY, not_before__lte=now).order_by("not_before", "id")[
        :BATCH
    ]
    for task in due:
        with isolated(f"task={task.id} start"):
            if ScheduledTask.objects.claim(task.pk, task.attempts):
                task.attempts += 1
                started.append(task.id)
                _start_attempt(task)
    return started


def _start_attempt(task: ScheduledTask) -> None:
    """Start the session of the task's current attempt (again, after a crash: the key makes it the same)."""
    try:
        session = api.start_session(
            task.codeunit_id,
            company=task.company,
            params=task.params,
            timeout=task.timeout,
            origin=f"task:{task.id}:{task.attempts}",
            user=load_user(task.user_id),
            debug=False,
        )
    except SessionStartError as e:
        logger.error("task=%s attempt %s could not start: %s", task.id, task.attempts, e)
        retriable = e.reason in ("limit_reached", "unavailable")
        _after_failure(task, f"Could not start: {e}", "sessions_app.exceptions.SessionStartError", "", retriable)
        return
    if not ScheduledTask.objects.attach_session(task.pk, task.attempts, session.id):
        api.request_stop(session.id, comment=f"task {task.id} was cancelled")  # cancelled meanwhile
    logger.info("task=%s attempt %s is session %s", task.id, task.attempts, session.id)


def settle(now: datetime) -> None:
    """Learn the outcome of running tasks; repair tasks whose session or failure session was never started."""
    running = list(ScheduledTask.objects.filter(status=TaskStatus.RUNNING))
    sessions = BackgroundSession.objects.all()
    by_id = {
        s.id: s
        for s in sessions.filter(pk__in=[t.session_id for t in running if t.session_id]).only(
            "id", "status", "error", "error_type", "traceback", "retriable"
        )
    }
    stale = timezone.now() - app_settings.DISPATCH_RECOVER_AFTER
    for task in running:
        with isolated(f"task={task.id} settle"):
            _settle_one(task, by_id.get(task.session_id), stale)
    for task in ScheduledTask.objects.filter(
        status=TaskStatus.FAILED,
        failure_codeunit_id__isnull=False,
        failure_session_id__isnull=True,
        failure_error="",
        finished_at__lt=stale,
    )[:BATCH]:
        with isolated(f"task={task.id} failure codeunit"):
            _start_failure_codeunit(task)


def _settle_one(task: ScheduledTask, session: BackgroundSession | None, stale: datetime) -> None:
    if task.session_id is None:
        if task.claimed_at and task.claimed_at < stale:
            _start_attempt(task)
        return
    if session is not None and session.is_active:
        return
    if session is not None and session.status == Status.SUCCEEDED:
        if ScheduledTask.objects.succeed(task.pk, task.attempts):
            logger.info("task=%s succeeded in session %s", task.id, session.id)
        return
    if session is None:
        _after_failure(task, f"Session {task.session_id} disappeared.", "", "", False)
        return
    retriable = session.retriable or session.status == Status.LOST
    error = session.error or f"The session ended {session.status}."
    if session.status == Status.LOST and (earlier := _lost_before(task, session)) is not None:
        retriable = False
        error = f"{error} {retry.died_twice(earlier, session.id)}"
    _after_failure(task, error, session.error_type, session.traceback, retriable)


def _lost_before(task: ScheduledTask, session: BackgroundSession) -> int | None:
    """An earlier attempt of ``task`` that was lost too (its first), or ``None``: a loss is retried once."""
    attempts = BackgroundSession.objects.filter(origin__startswith=f"task:{task.id}:", status=Status.LOST)
    earlier = attempts.exclude(pk=session.pk).exclude(origin=f"task:{task.id}:failure").order_by("id")
    return earlier.values_list("id", flat=True).first()


def retry_delay(attempt: int) -> timedelta:
    """The wait before retry number ``attempt`` (1, 2, ...): the base delay doubled each time, capped."""
    delay = app_settings.TASK_RETRY_DELAY * (2 ** max(0, attempt - 1))
    return min(delay, app_settings.TASK_RETRY_DELAY_MAX)


def _after_failure(task: ScheduledTask, error: str, error_type: str, tb: str, retriable: bool) -> None:
    tasks = ScheduledTask.objects
    fields = {"error_message": error[:10000], "error_type": error_type[:200], "error_traceback": tb}
    if retriable and task.attempts <= app_settings.TASK_MAX_RETRIES:
        when = clock.now() + retry_delay(task.attempts)
        if tasks.retry_at(task.pk, task.attempts, when, **fields):
            logger.warning("task=%s attempt %s failed (%s); retrying at %s", task.id, task.attempts, error, when)
        return
    if not tasks.fail(task.pk, task.attempts, **fields):
        return
    logger.error("task=%s failed after %s attempt(s): %s", task.id, task.attempts, error)
    task.status = TaskStatus.FAILED
    if task.failure_codeunit_id is not None:
        _start_failure_codeunit(task)


def _start_failure_codeunit(task: ScheduledTask) -> None:
    try:
        failure = registry.get(task.failure_codeunit_id)
        params = {} if failure.params is NoParameters else task.params
        session = api.start_session(
            failure,
            company=task.company,
            params=params,
            timeout=task.timeout,
            origin=f"task:{task.id}:failure",
            user=load_user(task.user_id),
            debug=False,
        )
    except (SessionStartError, UnknownCodeunit) as e:
        logger.error("task=%s: its failure codeunit could not start: %s", task.id, e)
        ScheduledTask.objects.note_failure_session(task.pk, error=str(e))
        return
    ScheduledTask.objects.note_failure_session(task.pk, session.id)
    logger.info("task=%s: failure codeunit %s runs in session %s", task.id, failure, session.id)


def next_due() -> datetime | None:
    """When the next ready task is due, for the dispatcher's sleep."""
    task = ScheduledTask.objects.filter(status=TaskStatus.READY).order_by("not_before").only("not_before").first()
    return task.not_before if task else None
