"""``@task`` functions the tests enqueue through Django's own task API."""

import time
import uuid

from django.utils import timezone

from demo.models import SessionLog
from sessions_app.companies import current_company
from sessions_app.context import running_session

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task


@task
def add(a, b):
    return a + b


@task
def insert_log(log_id, result="written by a task"):
    """Insert one SessionLog row in the task's company; return where it went."""
    now = timezone.now()
    session = running_session()
    SessionLog.objects.create(
        id=uuid.UUID(log_id), session_id=session.id, result=result, start_time=now, stop_time=now, elapsed=now - now
    )
    return {"company": current_company().name, "session": session.id}


@task
def insert_then_fail(log_id):
    insert_log.call(log_id)
    raise ValueError(f"planned failure after writing {log_id}")


@task(takes_context=True)
def which_attempt(context, note=""):
    return {"attempt": context.attempt, "id": context.task_result.id, "note": note}


@task
def sleep_then_insert(log_id, seconds):
    """Insert a row, then sleep (a stop or a killed worker must roll the row back)."""
    insert_log.call(log_id)
    session = running_session()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        session.progress(int(seconds - (deadline - time.monotonic())), int(seconds))
        time.sleep(0.05)
    return "slept"


@task(backend="cronus_uk")
def where_am_i():
    return current_company().name


def not_a_task():
    return "never run by a worker"


@task
def die_every_time():
    """A poison task: its worker dies every time it runs (in a worker process only)."""
    import multiprocessing
    import os
    import signal

    if multiprocessing.parent_process() is None:
        raise RuntimeError("this task kills its worker: run it in a worker only")
    os.kill(os.getpid(), signal.SIGKILL)


@task
def group_results():
    """A group's completion: its members' results, in the order they were enqueued."""
    return [outcome["result"] for outcome in running_session().group.outcomes()]
