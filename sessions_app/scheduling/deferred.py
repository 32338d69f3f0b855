"""``run_after`` of the ``django.tasks`` backend: a deferred task is a scheduled task.

Registered with the engine's ``deferral`` plug point. The task result's id is
``task:<id>``; its attempts are the sessions the scheduled task started.
"""

from sessions_app.models import BackgroundSession, Status

from .models import ScheduledTask, TaskStatus
from .tasks import create_task

_WAITING = {
    TaskStatus.NOT_READY: Status.QUEUED,
    TaskStatus.READY: Status.QUEUED,
    TaskStatus.RUNNING: Status.QUEUED,
    TaskStatus.CANCELLED: Status.CANCELLED,
    TaskStatus.FAILED: Status.FAILED,
}


def enqueue(*, codeunit, company, params, timeout, not_before) -> str:
    return f"task:{create_task(codeunit, company=company, params=params, timeout=timeout, not_before=not_before)}"


def attempts(result_id: str) -> list[BackgroundSession] | None:
    kind, _, number = result_id.partition(":")
    if kind != "task" or not number.isdecimal() or len(number) > 18:
        return None
    task = ScheduledTask.objects.filter(pk=int(number)).first()
    if task is None:
        return None
    sessions = list(
        BackgroundSession.objects.all()
        .filter(origin__startswith=f"task:{task.id}:")
        .exclude(origin__endswith=":failure")
        .order_by("id")
    )
    if sessions:
        return sessions
    # Nothing started yet: a stand-in that says so, with the task's arguments.
    return [
        BackgroundSession(
            codeunit_id=task.codeunit_id,
            company=task.company,
            params=task.params,
            status=_WAITING.get(task.status, Status.QUEUED),
            created_at=task.created_at,
            error=task.error_message,
            error_type=task.error_type,
        )
    ]
