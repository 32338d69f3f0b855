"""Work runs once: one owner for every retry, and a session that waits for its company waits, never fails.

Against a real qcluster, on both set-ups: codeunits whose worker dies every time (a crashing
extension, an out-of-memory kill) started directly, as a scheduled task, as a job queue entry and
as a ``@task``; a lost run that both the engine and the scheduler used to retry; a worker killed
while its session waits for the company's write lock; and a backlog in one company.
"""

import os
import signal
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connections

from demo.models import SessionLog
from sessions_app.api import rerun_session, start_session, stop_session, wait_session
from sessions_app.companies import use_company
from sessions_app.models import WAITING_FOR_LOCK, BackgroundSession, SessionEvent
from sessions_app.scheduling import api as scheduling
from sessions_app.scheduling.models import JobQueueEntry, ScheduledTask
from tests import clock
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, databases="__all__")]

WAIT = 60


@pytest.fixture(autouse=True)
def real_clock():
    clock.reset()
    yield
    clock.reset()


def row(session_id) -> BackgroundSession:
    return BackgroundSession.objects.get(pk=session_id)


def ended(session_id, timeout=WAIT) -> BackgroundSession:
    return wait_session(session_id, timeout=timeout)


def rows_in(company_alias="company_cronus"):
    return SessionLog.objects.using(company_alias)


def sqlite() -> bool:
    return connections["company_cronus"].vendor == "sqlite"


def retry_when_due(is_waiting):
    """Move the scheduler clock past a retry delay once ``is_waiting()`` says the retry is planned."""
    wait_until(is_waiting, timeout=WAIT, message="the retry to be planned")
    clock.advance(timedelta(minutes=5))


# Poison: the worker dies every time.


def test_a_poison_codeunit_started_directly_runs_once_more_then_its_chain_ends_lost(cluster):
    first = start_session("Die Every Time", company="CRONUS")
    again = wait_until(
        lambda: BackgroundSession.objects.filter(origin=f"rerun:{first.id}").first(), timeout=WAIT, message="the re-run"
    )
    assert again.rerun_of == first.id
    assert ended(again.id).status == "lost" and row(first.id).status == "lost"
    error = row(again.id).error
    assert "ended without recording an outcome" in error
    assert f"Not run again: its worker died twice (sessions {first.id} and {again.id})." in error
    assert BackgroundSession.objects.filter(codeunit_name="Die Every Time").count() == 2
    assert not rows_in().exists()  # its writes never committed
    assert ended(start_session("No-op", company="CRONUS").id).status == "succeeded"  # the cluster serves on


def test_a_poison_scheduled_task_is_tried_twice_then_fails_saying_why(cluster):
    task_id = scheduling.create_task("Die Every Time", company="CRONUS")
    task = lambda: ScheduledTask.objects.get(pk=task_id)  # noqa: E731
    retry_when_due(lambda: task().status == "ready" and task().attempts == 1)
    wait_until(lambda: task().status == "failed", timeout=WAIT, message="the task to fail")
    attempts = list(BackgroundSession.objects.filter(codeunit_name="Die Every Time").order_by("id"))
    assert [(s.origin, s.status) for s in attempts] == [(f"task:{task_id}:1", "lost"), (f"task:{task_id}:2", "lost")]
    assert f"its worker died twice (sessions {attempts[0].id} and {attempts[1].id})" in task().error_message
    assert task().attempts == 2 and not rows_in().exists()


def test_a_poison_job_queue_entry_runs_twice_then_ends_in_error_saying_why(cluster):
    entry = scheduling.add_job("Die Every Time", company="CRONUS", max_attempts=5, rerun_delay=60)
    current = lambda: JobQueueEntry.objects.get(pk=entry.id)  # noqa: E731
    retry_when_due(lambda: current().status == "ready" and current().attempts == 1)
    wait_until(lambda: current().status == "error", timeout=WAIT, message="the entry to end in error")
    runs = list(BackgroundSession.objects.filter(codeunit_name="Die Every Time").order_by("id"))
    assert [(s.origin, s.status) for s in runs] == [(f"job:{entry.id}:1", "lost"), (f"job:{entry.id}:2", "lost")]
    assert f"its worker died twice (sessions {runs[0].id} and {runs[1].id})" in current().error_message
    assert not rows_in().exists()


def test_a_poison_task_function_leaves_two_sessions_and_a_failed_result(cluster):
    from tests.testapp import tasks

    try:
        from django.tasks import TaskResultStatus
    except ImportError:
        from django_tasks import TaskResultStatus

    with use_company("CRONUS"):
        result = tasks.die_every_time.enqueue()
    wait_until(
        lambda: tasks.die_every_time.get_result(result.id).status == TaskResultStatus.FAILED,
        timeout=WAIT,
        message="the task result to fail",
    )
    final = tasks.die_every_time.get_result(result.id)
    sessions = list(BackgroundSession.objects.filter(codeunit_name="Django Task").order_by("id"))
    assert [s.status for s in sessions] == ["lost", "lost"] and final.attempts == 2
    assert "its worker died twice" in final.errors[-1].traceback


# One owner for each retry: a lost run of a codeunit that asks to be re-run commits once.


def test_a_lost_attempt_of_a_scheduled_task_is_retried_by_the_scheduler_alone(cluster, tmp_path):
    marker = tmp_path / uuid.uuid4().hex
    task_id = scheduling.create_task("Die Once", company="CRONUS", params={"marker": str(marker)})
    task = lambda: ScheduledTask.objects.get(pk=task_id)  # noqa: E731
    retry_when_due(lambda: task().status == "ready" and task().attempts == 1)
    wait_until(lambda: task().status == "succeeded", timeout=WAIT, message="the task's retry to succeed")
    first = BackgroundSession.objects.get(origin=f"task:{task_id}:1")
    assert first.status == "lost" and not BackgroundSession.objects.filter(origin=f"rerun:{first.id}").exists()
    assert rows_in().filter(result=marker.name).count() == 1  # committed once


def test_a_lost_run_of_a_job_queue_entry_is_retried_by_the_job_queue_alone(cluster, tmp_path):
    marker = tmp_path / uuid.uuid4().hex
    entry = scheduling.add_job("Die Once", company="CRONUS", params={"marker": str(marker)}, rerun_delay=60)
    current = lambda: JobQueueEntry.objects.get(pk=entry.id)  # noqa: E731
    retry_when_due(lambda: current().status == "ready" and current().attempts == 1)
    wait_until(lambda: current().status == "finished", timeout=WAIT, message="the entry's second run to succeed")
    first = BackgroundSession.objects.get(origin=f"job:{entry.id}:1")
    assert first.status == "lost" and not BackgroundSession.objects.filter(origin=f"rerun:{first.id}").exists()
    assert rows_in().filter(result=marker.name).count() == 1


def test_a_tasks_result_follows_its_own_attempts_never_a_users_re_run(cluster):
    from tests.testapp import tasks

    try:
        from django.tasks import TaskResultStatus
    except ImportError:
        from django_tasks import TaskResultStatus

    log_id = str(uuid.uuid4())
    with use_company("CRONUS"):
        result = tasks.sleep_then_insert.enqueue(log_id, 0.1)
    assert ended(int(result.id)).status == "succeeded"
    again = rerun_session(int(result.id))  # a user's re-run: a task result of its own
    wait_until(lambda: row(again.id).status != "queued", timeout=WAIT)
    assert tasks.sleep_then_insert.get_result(result.id).status == TaskResultStatus.SUCCESSFUL
    stop_session(again.id)
    ended(again.id)
    kept = tasks.sleep_then_insert.get_result(result.id)
    assert (kept.status, kept.attempts, kept.return_value) == (TaskResultStatus.SUCCESSFUL, 1, "slept")
    assert tasks.sleep_then_insert.get_result(str(again.id)).id == str(again.id)


# Waiting for the company is not failing, and a dead waiter is settled however busy the company is.


def kill_worker_of(session_id) -> None:
    os.kill(int(row(session_id).worker.rsplit(":", 1)[1]), signal.SIGKILL)


def test_a_killed_worker_is_settled_within_5_seconds_while_another_session_holds_the_company(cluster):
    holder = start_session("Hold The Company", company="CRONUS", params={"seconds": 60, "label": "holder"})
    wait_until(lambda: row(holder.id).status == "running", timeout=WAIT)
    victim = start_session("Hold The Company", company="CRONUS", params={"seconds": 60, "label": "victim"})
    if sqlite():  # it waits for the holder's write lock, and the pages say so
        wait_until(lambda: row(victim.id).progress_message == WAITING_FOR_LOCK, timeout=WAIT)
        assert row(victim.id).status_label == "Waiting for the company database"
    else:
        wait_until(lambda: row(victim.id).status == "running", timeout=WAIT)
    kill_worker_of(victim.id)
    killed = time.monotonic()
    wait_until(lambda: row(victim.id).status == "lost", timeout=10, interval=0.1, message="the victim to be settled")
    settled_in = time.monotonic() - killed
    assert settled_in < 5
    print(f"killed while another session held the company: settled in {settled_in:.1f} s")
    assert row(holder.id).status == "running"  # the company was busy all along
    stop_session(holder.id)
    assert ended(holder.id).status == "stopped"
    assert not rows_in().filter(result__in=("holder", "victim")).exists()


def test_a_backlog_in_one_company_waits_its_turn_in_order_and_fails_nothing(cluster):
    """A first session holds the company longer than SQLite's busy timeout; every later one waits its turn.

    ``RUNS_ONCE_BACKLOG=100 RUNS_ONCE_SECONDS=1-3`` runs the stream of the closing note: 100
    sessions of 1 to 3 seconds, and a worker killed in the middle of it.
    """
    count = int(os.environ.get("RUNS_ONCE_BACKLOG", "10"))
    low, high = (float(x) for x in os.environ.get("RUNS_ONCE_SECONDS", "0.2-0.6").split("-"))
    long_hold = start_session("Hold The Company", company="CRONUS", params={"seconds": 7, "label": "long"})
    wait_until(lambda: row(long_hold.id).status == "running", timeout=WAIT)
    stream = [
        start_session(
            "Hold The Company",
            company="CRONUS",
            params={"seconds": round(low + (high - low) * (i % 5) / 4, 3), "label": f"backlog {i}"},
        )
        for i in range(count)
    ]
    # A worker killed in the middle of the stream: its session (waiting on SQLite) is settled within 5 s.
    middle = stream[count // 2]
    wait_until(lambda: row(middle.id).status == "running", timeout=WAIT + count * high, message="the middle one")
    kill_worker_of(middle.id)
    killed = time.monotonic()
    wait_until(lambda: not row(middle.id).is_active, timeout=10, interval=0.1, message="the killed one to be settled")
    settled_in = time.monotonic() - killed
    assert settled_in < 5
    outcomes = {s.id: ended(s.id, timeout=WAIT + count * high).status for s in [long_hold, *stream]}
    counts = {status: list(outcomes.values()).count(status) for status in set(outcomes.values())}
    killed_status = row(middle.id).status
    print(f"backlog of {count}: the killed one {killed_status} in {settled_in:.1f} s; all {len(outcomes)}: {counts}")
    assert outcomes.pop(middle.id) in ("lost", "succeeded")  # killed while waiting, or just after its commit
    assert set(outcomes.values()) == {"succeeded"}, {i: s for i, s in outcomes.items() if s != "succeeded"}
    if sqlite():
        # One at a time, in the order they came: each began after the one before it had committed.
        logs = {log.session_id: log for log in rows_in().filter(session_id__in=outcomes)}
        claimed = sorted(BackgroundSession.objects.filter(pk__in=logs), key=lambda s: s.started_at)
        ordered = [logs[s.id] for s in claimed]
        for before, after in zip(ordered, ordered[1:], strict=False):
            assert before.stop_time <= after.start_time, (before.result, after.result)
        waited = SessionEvent.objects.filter(session_id=stream[0].id, message__startswith="waiting for the company")
        assert waited.exists()
