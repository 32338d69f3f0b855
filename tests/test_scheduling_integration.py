"""The task scheduler and the job queue against a real qcluster, whose dispatcher threads do the work.

Where waiting would be slow (an hour, a weekend, a retry delay) the tests
move the scheduler clock (tests/clock.py) for the cluster and themselves.
To show that something did *not* run, a marker task is created after the
clock moved: once the marker has run, the dispatcher has looked at the moved
clock, and whatever should not have started must still be waiting.
"""

import statistics
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from demo.models import Customer, SessionLog
from sessions_app import api
from sessions_app.models import BackgroundSession
from sessions_app.scheduling import api as scheduling
from sessions_app.scheduling import dispatcher
from sessions_app.scheduling.exceptions import JobQueueError
from sessions_app.scheduling.models import JobQueueEntry, JobQueueLogEntry, ScheduledTask
from tests import clock
from tests.conftest import vendor, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, databases="__all__")]

WAIT = 30
FRIDAY = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)
MONDAY_8 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def real_clock():
    clock.reset()
    yield
    clock.reset()


def task(task_id) -> ScheduledTask:
    return ScheduledTask.objects.get(pk=task_id)


def wait_task(task_id, *statuses, timeout=WAIT) -> ScheduledTask:
    wait_until(lambda: task(task_id).status in statuses, timeout=timeout, message=f"task {task_id} to be {statuses}")
    return task(task_id)


def dispatcher_has_looked(company="CRONUS") -> None:
    """Wait until a task created now on the scheduler clock has run: the dispatcher has seen this moment."""
    marker = scheduling.create_task("No-op", company=company)
    wait_task(marker, "succeeded")


def test_a_task_starts_soon_after_not_before_and_never_before(cluster):
    delays = []
    for i in range(10):
        not_before = clock.now() + timedelta(seconds=0.5 + 0.3 * i)
        task_id = scheduling.create_task("No-op", company="CRONUS", not_before=not_before)
        delays.append((task_id, not_before))
    for task_id, not_before in delays:
        t = wait_task(task_id, "succeeded")
        session = BackgroundSession.objects.get(pk=t.session_id)
        assert session.started_at >= not_before, (session.started_at, not_before)
    measured = sorted(
        (BackgroundSession.objects.get(pk=task(t).session_id).started_at - nb).total_seconds() for t, nb in delays
    )
    print(f"\nnot_before -> started: p50 {statistics.median(measured) * 1000:.0f} ms, max {measured[-1] * 1000:.0f} ms")
    assert measured[-1] < 5

    later = scheduling.create_task("Insert Row", company="CRONUS", not_before=clock.now() + timedelta(hours=1))
    dispatcher_has_looked()
    assert task(later).status == "ready" and task(later).session_id is None
    clock.advance(timedelta(hours=1))
    moved_at = timezone.now()
    t = wait_task(later, "succeeded")
    assert BackgroundSession.objects.get(pk=t.session_id).started_at >= moved_at


def test_a_task_that_is_not_ready_never_runs_until_it_is_set_ready(cluster):
    task_id = scheduling.create_task("No-op", company="CRONUS", ready=False)
    clock.advance(timedelta(days=1))
    dispatcher_has_looked()
    assert task(task_id).status == "not_ready" and scheduling.task_exists(task_id)
    assert scheduling.set_task_ready(task_id)
    wait_task(task_id, "succeeded")
    assert not scheduling.task_exists(task_id)
    assert BackgroundSession.objects.filter(origin__startswith=f"task:{task_id}:").count() == 1


def test_a_retriable_error_is_retried_with_growing_delays_then_the_failure_codeunit_runs(cluster):
    log_id = "0b7c3f5e-6a1d-4d0e-8b55-5b8d3f1e2a90"
    task_id = scheduling.create_task(
        "Always Retriable", failure_codeunit="Record Failure", company="CRONUS", params={"log_id": log_id}
    )
    delays = []
    for attempt in (1, 2, 3):  # SESSIONS_TASK_MAX_RETRIES = 3: four attempts in all
        wait_until(
            lambda attempt=attempt: task(task_id).attempts == attempt and task(task_id).status == "ready",
            timeout=WAIT,
            message=f"attempt {attempt} to fail and be rescheduled",
        )
        t = task(task_id)
        failed = BackgroundSession.objects.get(pk=t.session_id)
        delays.append(round((t.not_before - failed.finished_at).total_seconds() - clock.offset()))
        clock.travel_to(t.not_before)
    t = wait_task(task_id, "failed")
    assert t.attempts == 4 and [round(d, -1) for d in delays] == [30, 60, 120]
    wait_until(lambda: task(task_id).failure_session_id is not None, timeout=WAIT)
    failure = api.wait_session(task(task_id).failure_session_id, timeout=WAIT)
    assert failure.status == "succeeded", failure.traceback
    assert failure.result["error_type"] == "sessions_app.exceptions.RetriableError"
    assert failure.result["params"]["log_id"] == log_id and failure.result["traceback"]
    attempts = BackgroundSession.objects.filter(origin__startswith=f"task:{task_id}:").exclude(pk=failure.id)
    assert sorted(attempts.values_list("status", flat=True)) == ["failed"] * 4
    assert not Customer.objects.using("company_cronus").filter(no__startswith="RETRY-").exists()  # rolled back
    row = SessionLog.objects.using("company_cronus").get(id=log_id)
    assert row.session_id == failure.id and "RetriableError" in row.result


def test_a_task_cancelled_before_it_starts_never_runs(cluster):
    task_id = scheduling.create_task("No-op", company="CRONUS", not_before=clock.now() + timedelta(minutes=10))
    assert scheduling.cancel_task(task_id)
    clock.advance(timedelta(hours=1))
    dispatcher_has_looked()
    assert task(task_id).status == "cancelled" and task(task_id).session_id is None


def test_tasks_survive_a_restart_of_the_whole_cluster(qcluster):
    pending = [
        scheduling.create_task("Insert Row", company="CRONUS UK", not_before=clock.now() + timedelta(minutes=30))
        for _ in range(5)
    ]
    running = scheduling.create_task("Sleep", company="CRONUS", params={"seconds": 4})
    wait_until(lambda: BackgroundSession.objects.filter(pk=task(running).session_id or 0, status="running").exists())
    qcluster.kill()  # kill -9: the running attempt dies with its worker
    clock.advance(timedelta(hours=1))
    qcluster.start()
    for task_id in pending:
        t = wait_task(task_id, "succeeded")
        assert BackgroundSession.objects.filter(origin__startswith=f"task:{task_id}:").count() == 1
        assert SessionLog.objects.using("company_cronus_uk").filter(session_id=t.session_id).count() == 1
    # The killed attempt is found lost, and the task is retried after its delay: never two at once.
    wait_until(lambda: (row := task(running)).status == "ready" and row.attempts == 1, timeout=60)
    first = BackgroundSession.objects.get(pk=task(running).session_id)
    assert first.status == "lost"
    clock.travel_to(task(running).not_before)
    t = wait_task(running, "succeeded")
    second = BackgroundSession.objects.get(pk=t.session_id)
    assert t.attempts == 2 and second.started_at > first.finished_at


# The job queue.


def entry(entry_id) -> JobQueueEntry:
    return JobQueueEntry.objects.get(pk=entry_id)


def log_of(entry_id):
    return JobQueueLogEntry.objects.filter(entry_id=entry_id).order_by("id")


def test_a_recurring_entry_runs_on_schedule_and_its_next_run_crosses_the_weekend(cluster):
    clock.travel_to(FRIDAY)
    job = scheduling.add_job(
        "No-op",
        company="CRONUS",
        weekdays=["mon-fri"],
        starting_time=time(8),
        ending_time=time(17),
        minutes_between_runs=60,
    )
    wait_until(lambda: log_of(job.id).filter(status="success").count() == 1, timeout=WAIT)
    wait_until(lambda: entry(job.id).status == "ready", timeout=WAIT)
    assert entry(job.id).earliest_start == MONDAY_8
    clock.travel_to(MONDAY_8 - timedelta(minutes=1))
    dispatcher_has_looked()
    assert log_of(job.id).count() == 1 and entry(job.id).status == "ready"
    clock.travel_to(MONDAY_8)
    wait_until(lambda: log_of(job.id).filter(status="success").count() == 2, timeout=WAIT)
    wait_until(lambda: entry(job.id).status == "ready", timeout=WAIT)
    assert entry(job.id).earliest_start == MONDAY_8.replace(hour=9)
    for run in log_of(job.id):
        session = BackgroundSession.objects.get(pk=run.session_id)
        assert session.status == "succeeded" and run.finished_at == session.finished_at


def test_a_category_runs_its_entries_one_at_a_time(cluster):
    # The first entry of the category holds until it is stopped: the second must wait for it, however slow the machine.
    holder = scheduling.add_job("Cooperative Loop", company="CRONUS", params={"seconds": 600}, category="SERIAL")
    wait_until(lambda: (row := entry(holder.id)).status == "in_process" and row.session_id, timeout=WAIT)
    follower = scheduling.add_job("No-op", company="CRONUS", category="SERIAL")
    wait_until(lambda: entry(follower.id).status == "waiting", timeout=WAIT, message="the follower to wait")
    dispatcher_has_looked("CRONUS UK")
    assert not log_of(follower.id).exists() and entry(follower.id).status == "waiting"
    assert api.stop_session(entry(holder.id).session_id)
    wait_until(lambda: log_of(follower.id).filter(status="success").exists(), timeout=WAIT)
    [held] = log_of(holder.id)
    [followed] = log_of(follower.id)
    assert held.status == "error" and followed.started_at >= held.finished_at


def test_entries_without_a_category_start_while_another_runs(cluster):
    # The first entry holds until it is stopped; the dispatcher must start the second beside it all the same.
    first = scheduling.add_job("Cooperative Loop", company="CRONUS UK", params={"seconds": 600})
    wait_until(lambda: (row := entry(first.id)).status == "in_process" and row.session_id, timeout=WAIT)
    second = scheduling.add_job("No-op", company="CRONUS UK")
    wait_until(lambda: log_of(second.id).exists(), timeout=WAIT, message="the second entry to start")
    [running] = log_of(first.id)
    assert running.status == "in_process"  # it loops until stopped: the second started beside it
    assert entry(second.id).status != "waiting"
    api.stop_session(entry(first.id).session_id)


def test_max_attempts_ends_in_error_with_a_log_entry_per_run(cluster):
    job = scheduling.add_job("Write Then Fail", company="CRONUS UK", max_attempts=2, rerun_delay=0)
    wait_until(lambda: entry(job.id).status == "error", timeout=WAIT)
    job = entry(job.id)
    assert job.attempts == 2 and job.error_message.startswith("ValueError: planned failure")
    runs = list(log_of(job.id))
    assert [r.status for r in runs] == ["error", "error"]
    for run in runs:
        assert BackgroundSession.objects.get(pk=run.session_id).status == "failed"
        assert "Traceback" in run.error_traceback and run.finished_at >= run.started_at
    clock.advance(timedelta(days=1))
    dispatcher_has_looked("CRONUS UK")
    assert log_of(job.id).count() == 2 and entry(job.id).status == "error"


def test_an_entry_in_process_is_not_started_twice(cluster):
    job = scheduling.add_job(
        "Sleep", company="CRONUS", params={"seconds": 3}, weekdays=["mon-sun"], minutes_between_runs=1
    )
    wait_until(lambda: (row := entry(job.id)).status == "in_process" and row.session_id, timeout=WAIT)
    clock.advance(timedelta(minutes=10))  # its next run is long due while it is still in process
    with pytest.raises(JobQueueError, match="in process"):
        scheduling.run_job_now(job.id)
    for _ in range(5):
        dispatcher.run_once()  # a third dispatcher, beside the two in the workers
    wait_until(lambda: log_of(job.id).filter(status="success").exists(), timeout=WAIT)
    assert BackgroundSession.objects.filter(origin__startswith=f"job:{job.id}:").count() == 1
    assert entry(job.id).earliest_start > clock.now()


def test_a_task_waits_for_a_locked_company_database_and_succeeds_in_its_first_attempt(cluster):
    """Waiting is not failing: a task behind a caller's write lock waits past SQLite's busy timeout, then runs."""
    if vendor() != "sqlite":
        pytest.skip("a PostgreSQL session does not wait for another writer to begin")
    with transaction.atomic(using="company_cronus"):
        Customer.objects.using("company_cronus").create(no="HOLDER", name="holds the write lock")
        task_id = scheduling.create_task("Insert Row", company="CRONUS")
        session = wait_until(lambda: (row := task(task_id)).session_id and row.session_id, timeout=WAIT)
        # Held longer than SQLITE_TIMEOUT (5 s), after which a plain transaction gives up.
        wait_until(
            lambda: (
                (s := BackgroundSession.objects.get(pk=session)).started_at
                and timezone.now() - s.started_at > timedelta(seconds=6)
            ),
            timeout=WAIT,
        )
        waiting = BackgroundSession.objects.get(pk=session)
        assert waiting.status == "running" and waiting.status_label == "Waiting for the company database"
    t = wait_task(task_id, "succeeded")
    assert t.attempts == 1 and SessionLog.objects.using("company_cronus").filter(session_id=t.session_id).exists()
