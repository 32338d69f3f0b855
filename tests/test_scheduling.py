"""The task scheduler and the job queue, step by step, without a cluster.

The dispatcher's passes are called here directly, and each session it
starts is run by the real runner in this process (as a worker would), so
every transition can be checked between steps. The same behaviour against
a real qcluster is in ``test_scheduling_integration.py``.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission, User
from django.db import InterfaceError, OperationalError

from sessions_app import runner
from sessions_app.exceptions import RetriableError, SessionStartError
from sessions_app.models import BackgroundSession, CompanyAccess
from sessions_app.retry import is_retriable
from sessions_app.scheduling import api as scheduling
from sessions_app.scheduling import dispatcher
from sessions_app.scheduling.exceptions import JobQueueError
from sessions_app.scheduling.models import JobQueueEntry, JobQueueLogEntry, ScheduledTask
from sessions_app.scheduling.recurrence import Recurrence, parse_weekdays
from sessions_app.scheduling.tasks import retry_delay
from tests import clock

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]

BERLIN = ZoneInfo("Europe/Berlin")
FRIDAY = datetime(2026, 11, 27, 16, 30, tzinfo=BERLIN)  # a Friday


@pytest.fixture(autouse=True)
def real_clock():
    clock.reset()
    yield
    clock.reset()


def run_queued() -> list[BackgroundSession]:
    """Run every queued session here, as a worker would; return them finished."""
    done = []
    for session_id in BackgroundSession.objects.filter(status="queued").order_by("id").values_list("id", flat=True):
        session = runner.run(session_id)
        if session is not None:
            done.append(session)
    return done


def task(task_id) -> ScheduledTask:
    return ScheduledTask.objects.get(pk=task_id)


# Recurrence: pure functions of a rule and a moment.


def test_weekday_names_ranges_and_numbers_parse_and_bad_ones_are_refused():
    assert parse_weekdays(["mon-fri"]) == frozenset(range(5))
    assert parse_weekdays(["Sat", "sunday", 0]) == frozenset({5, 6, 0})
    assert parse_weekdays(["fri-mon"]) == frozenset({4, 5, 6, 0})
    with pytest.raises(ValueError, match="'xyz' is not a weekday"):
        parse_weekdays(["xyz"])
    with pytest.raises(ValueError, match="'7' is not a weekday"):
        parse_weekdays(["7"])
    assert parse_weekdays(["Mondays", "friday"]) == frozenset({0, 4})
    from sessions_app.scheduling.recurrence import describe_weekdays

    assert describe_weekdays(parse_weekdays(["mon-fri"])) == "mon-fri"
    assert describe_weekdays({0, 2, 4, 5, 6}) == "mon,wed,fri-sun"
    assert describe_weekdays({5, 6}) == "sat,sun"
    with pytest.raises(ValueError, match="'monkey' is not a weekday"):
        parse_weekdays(["monkey"])


def test_every_hour_on_weekdays_goes_from_friday_evening_to_monday_morning():
    rule = Recurrence(
        weekdays=parse_weekdays(["mon-fri"]), starting_time=time(8), ending_time=time(17), minutes_between_runs=60
    )
    assert rule.next_after(FRIDAY.replace(hour=15, minute=0)) == FRIDAY.replace(hour=16, minute=0)
    monday = datetime(2026, 11, 30, 8, 0, tzinfo=BERLIN)
    assert rule.next_after(FRIDAY, tz=BERLIN) == monday
    assert rule.next_after(monday, tz=BERLIN) == monday.replace(hour=9)
    # Before the window opens, the first run is at its start; inside it, at once.
    assert rule.first_at_or_after(monday.replace(hour=6), tz=BERLIN) == monday
    assert rule.first_at_or_after(monday.replace(hour=10, minute=7), tz=BERLIN) == monday.replace(hour=10, minute=7)
    assert rule.first_at_or_after(FRIDAY.replace(hour=18), tz=BERLIN) == monday


def test_daily_runs_at_the_starting_time_on_the_chosen_days_across_a_dst_change():
    rule = Recurrence(weekdays=parse_weekdays(["sun"]), starting_time=time(2, 30))
    # 2026-10-25 is the Sunday Berlin leaves summer time; the next Sunday is 1 November.
    first = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN)
    following = rule.next_after(first, tz=BERLIN)
    assert following == datetime(2026, 11, 1, 2, 30, tzinfo=BERLIN)
    assert following.utcoffset() == timedelta(hours=1)


def test_cron_expressions_give_the_next_matching_minute():
    rule = Recurrence(cron="15 6 * * 1")  # Mondays at 06:15
    assert rule.next_after(FRIDAY, tz=BERLIN) == datetime(2026, 11, 30, 6, 15, tzinfo=BERLIN)
    assert rule.first_at_or_after(datetime(2026, 11, 30, 6, 15, tzinfo=BERLIN), tz=BERLIN) == datetime(
        2026, 11, 30, 6, 15, tzinfo=BERLIN
    )


# Retriable errors.


def test_retriable_errors_are_the_marked_ones_and_transient_database_failures():
    import psycopg.errors

    assert is_retriable(RetriableError("later"))
    assert is_retriable(OperationalError("database is locked"))
    assert is_retriable(InterfaceError("connection already closed"))
    for pg_error in (
        psycopg.errors.SerializationFailure,
        psycopg.errors.DeadlockDetected,
        psycopg.errors.AdminShutdown,
        psycopg.OperationalError,
    ):
        wrapped = OperationalError("from postgres")
        wrapped.__cause__ = pg_error("from postgres")
        assert is_retriable(wrapped), pg_error
    unique = OperationalError("from postgres")
    unique.__cause__ = psycopg.errors.QueryCanceled("canceling statement")
    assert not is_retriable(unique)
    assert not is_retriable(ValueError("bad data"))
    assert not is_retriable(OperationalError("no such table: x"))


def test_the_retry_delay_doubles_and_is_capped(settings):
    settings.SESSIONS_TASK_RETRY_DELAY = timedelta(seconds=10)
    settings.SESSIONS_TASK_RETRY_DELAY_MAX = timedelta(seconds=35)
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 35, 35]


# The task scheduler.


def test_a_task_runs_once_it_is_due_and_not_before():
    task_id = scheduling.create_task("Insert Row", company="CRONUS", not_before=clock.now() + timedelta(hours=1))
    assert scheduling.task_exists(task_id)
    assert dispatcher.run_once()["tasks"] == []
    assert task(task_id).status == "ready" and not BackgroundSession.objects.exists()
    clock.advance(timedelta(hours=1, seconds=1))
    assert dispatcher.run_once()["tasks"] == [task_id]
    assert dispatcher.run_once()["tasks"] == []  # running: never started twice
    [session] = run_queued()
    assert session.origin == f"task:{task_id}:1" and session.status == "succeeded"
    dispatcher.run_once()
    assert task(task_id).status == "succeeded" and not scheduling.task_exists(task_id)
    assert BackgroundSession.objects.count() == 1


def test_a_task_that_is_not_ready_waits_for_set_task_ready():
    task_id = scheduling.create_task("No-op", company="CRONUS", ready=False)
    dispatcher.run_once()
    assert task(task_id).status == "not_ready" and not BackgroundSession.objects.exists()
    later = clock.now() + timedelta(minutes=5)
    assert scheduling.set_task_ready(task_id, not_before=later)
    dispatcher.run_once()
    assert not BackgroundSession.objects.exists()
    clock.travel_to(later)
    assert dispatcher.run_once()["tasks"] == [task_id]


def test_a_retriable_error_is_retried_with_growing_delays_then_the_failure_codeunit_runs(settings):
    settings.SESSIONS_TASK_MAX_RETRIES = 2
    log_id = "6f1c2a44-1f56-4c11-9a39-0d3f1b9b7f10"
    task_id = scheduling.create_task(
        "Always Retriable", failure_codeunit="Record Failure", company="CRONUS", params={"log_id": log_id}
    )
    waits = []
    for attempt in (1, 2, 3):
        assert dispatcher.run_once()["tasks"] == [task_id], attempt
        [session] = run_queued()
        assert session.status == "failed" and session.retriable
        failed_at = clock.now()
        dispatcher.run_once()
        t = task(task_id)
        if attempt < 3:
            assert t.status == "ready" and t.attempts == attempt
            waits.append(round((t.not_before - failed_at).total_seconds()))
            assert dispatcher.run_once()["tasks"] == []  # not before its delay
            clock.travel_to(t.not_before)
    assert waits == [30, 60]
    t = task(task_id)
    assert t.status == "failed" and t.attempts == 3
    assert t.error_type == "sessions_app.exceptions.RetriableError"
    [failure] = run_queued()
    assert failure.id == t.failure_session_id and failure.origin == f"task:{task_id}:failure"
    assert failure.status == "succeeded", failure.traceback
    assert failure.result["error_message"] == f"RetriableError: not yet ({log_id})"
    assert failure.result["params"]["log_id"] == log_id and failure.result["traceback"]
    dispatcher.run_once()
    assert BackgroundSession.objects.count() == 4  # three attempts and one failure session


def test_any_other_error_runs_the_failure_codeunit_at_once():
    task_id = scheduling.create_task("Write Then Fail", failure_codeunit=90021, company="CRONUS UK")
    dispatcher.run_once()
    run_queued()
    dispatcher.run_once()
    t = task(task_id)
    assert t.status == "failed" and t.attempts == 1 and t.error_type == "builtins.ValueError"
    [failure] = run_queued()
    assert failure.company == "CRONUS UK" and failure.result["error_type"] == "builtins.ValueError"


def test_cancel_before_start_and_cancel_while_running():
    waiting = scheduling.create_task("No-op", company="CRONUS", not_before=clock.now() + timedelta(hours=1))
    assert scheduling.cancel_task(waiting) and not scheduling.task_exists(waiting)
    assert not scheduling.cancel_task(waiting) and not scheduling.set_task_ready(waiting)
    clock.advance(timedelta(hours=2))
    dispatcher.run_once()
    assert not BackgroundSession.objects.exists()

    running = scheduling.create_task("No-op", company="CRONUS")
    dispatcher.run_once()
    assert scheduling.cancel_task(running)
    session = BackgroundSession.objects.get(pk=task(running).session_id)
    assert session.status == "cancelled"  # it was still queued: it never runs
    assert run_queued() == []
    dispatcher.run_once()
    assert task(running).status == "cancelled"


def test_a_dispatcher_that_died_after_claiming_is_repaired_without_a_second_session(settings):
    settings.SESSIONS_DISPATCH_RECOVER_AFTER = timedelta(0)
    task_id = scheduling.create_task("No-op", company="CRONUS")
    ScheduledTask.objects.filter(pk=task_id).update(status="running", attempts=1, claimed_at=clock.now())
    dispatcher.run_once()  # finds the claim without a session, starts it with the attempt's key
    dispatcher.run_once()
    assert BackgroundSession.objects.filter(origin=f"task:{task_id}:1").count() == 1
    run_queued()
    dispatcher.run_once()
    assert task(task_id).status == "succeeded"


def test_bad_task_requests_raise_clearly_and_write_nothing():
    cases = [
        (dict(codeunit="Nope", company="CRONUS"), "unknown_codeunit"),
        (dict(codeunit="No-op", company="Nope"), "unknown_company"),
        (dict(codeunit="No-op", company="CRONUS", failure_codeunit=99999), "unknown_codeunit"),
        (dict(codeunit="No-op", company="CRONUS", not_before="tomorrow"), "invalid_params"),
        (dict(codeunit="Insert Row", company="CRONUS", params={"log_id": "x"}), "invalid_params"),
        (dict(codeunit="Sleep", company="CRONUS", failure_codeunit="Record Failure"), "invalid_params"),
        (dict(codeunit="No-op", company="CRONUS", timeout=0), "invalid_params"),
    ]
    for kwargs, reason in cases:
        with pytest.raises(SessionStartError) as e:
            scheduling.create_task(**kwargs)
        assert e.value.reason == reason, (kwargs, e.value)
    assert not ScheduledTask.objects.exists()
    assert (
        not scheduling.task_exists("1; DROP TABLE x")
        and not scheduling.cancel_task(-1)
        and not scheduling.set_task_ready(None)
    )


# The job queue.


def entry(entry_id) -> JobQueueEntry:
    return JobQueueEntry.objects.get(pk=entry_id)


def test_a_recurring_entry_runs_on_schedule_and_its_next_run_crosses_the_weekend(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    clock.travel_to(FRIDAY)
    job = scheduling.add_job(
        "No-op",
        company="CRONUS",
        weekdays=["mon-fri"],
        starting_time=time(8),
        ending_time=time(17),
        minutes_between_runs=60,
    )
    assert job.status == "ready" and abs((job.earliest_start - FRIDAY).total_seconds()) < 5
    assert dispatcher.run_once()["jobs"] == [job.id]
    assert entry(job.id).status == "in_process"
    assert dispatcher.run_once()["jobs"] == []
    run_queued()
    dispatcher.run_once()
    job = entry(job.id)
    monday = datetime(2026, 11, 30, 8, 0, tzinfo=BERLIN)
    assert job.status == "ready" and job.earliest_start == monday and job.last_outcome == "success"
    clock.travel_to(monday - timedelta(minutes=1))
    assert dispatcher.run_once()["jobs"] == []
    clock.travel_to(monday)
    assert dispatcher.run_once()["jobs"] == [job.id]
    run_queued()
    dispatcher.run_once()
    assert entry(job.id).earliest_start == monday.replace(hour=9)
    log = list(JobQueueLogEntry.objects.filter(entry=job).order_by("id"))
    assert [e.status for e in log] == ["success", "success"]
    assert all(e.session_id and e.finished_at >= e.started_at for e in log)


def test_entries_of_one_category_run_one_at_a_time_and_the_other_waits():
    first = scheduling.add_job("No-op", company="CRONUS", category="post")
    second = scheduling.add_job("No-op", company="CRONUS", category="POST")
    other_company = scheduling.add_job("No-op", company="CRONUS UK", category="POST")
    assert sorted(dispatcher.run_once()["jobs"]) == [first.id, other_company.id]
    assert entry(second.id).status == "waiting"
    with pytest.raises(JobQueueError, match="Category POST is busy"):
        scheduling.run_job_now(second.id)
    run_queued()
    assert dispatcher.run_once()["jobs"] == [second.id]
    assert entry(first.id).status == "finished" and entry(second.id).status == "in_process"


def test_max_attempts_ends_in_error_with_a_log_entry_for_each_run():
    job = scheduling.add_job("Write Then Fail", company="CRONUS", max_attempts=2, rerun_delay=120)
    dispatcher.run_once()
    run_queued()
    dispatcher.run_once()
    job = entry(job.id)
    assert job.status == "ready" and job.attempts == 1 and job.last_outcome == "error"
    assert dispatcher.run_once()["jobs"] == []  # waits its rerun delay
    clock.travel_to(job.earliest_start)
    assert dispatcher.run_once()["jobs"] == [job.id]
    run_queued()
    dispatcher.run_once()
    job = entry(job.id)
    assert job.status == "error" and "planned failure" in job.error_message and "Traceback" in job.error_traceback
    log = list(JobQueueLogEntry.objects.filter(entry=job).order_by("id"))
    assert [e.status for e in log] == ["error", "error"]
    assert all("planned failure" in e.error_message and e.session_id for e in log)
    clock.advance(timedelta(days=1))
    assert dispatcher.run_once()["jobs"] == []
    assert scheduling.restart_job(job.id).status == "ready"
    assert dispatcher.run_once()["jobs"] == [job.id]


def test_an_entry_in_process_is_not_started_again():
    job = scheduling.add_job("No-op", company="CRONUS")
    dispatcher.run_once()
    with pytest.raises(JobQueueError, match="in process"):
        scheduling.run_job_now(job.id)
    with pytest.raises(JobQueueError, match="in process"):
        scheduling.set_job_on_hold(job.id)
    assert dispatcher.run_once()["jobs"] == []
    assert BackgroundSession.objects.count() == 1


def test_run_now_inline_runs_an_entry_on_hold_and_leaves_it_on_hold():
    job = scheduling.add_job("Who Am I", company="CRONUS", ready=False)
    session = scheduling.run_job_now(job.id, debug=True)
    assert session.mode == "inline" and session.status == "succeeded"
    job = entry(job.id)
    assert job.status == "on_hold" and job.last_outcome == "success"
    assert JobQueueLogEntry.objects.get(entry=job).session_id == session.id


def test_a_failing_run_now_of_an_entry_on_hold_leaves_it_on_hold_with_its_error():
    job = scheduling.add_job("Write Then Fail", company="CRONUS", ready=False)
    session = scheduling.run_job_now(job.id, debug=True)
    assert session.status == "failed"
    job = entry(job.id)
    assert job.status == "on_hold" and job.last_outcome == "error" and "planned failure" in job.error_message
    clock.advance(timedelta(days=1))
    assert dispatcher.run_once()["jobs"] == []


def test_sessions_run_as_the_user_who_set_the_entry_ready():
    clerk = User.objects.create_user("clerk")
    clerk.user_permissions.add(
        *Permission.objects.filter(codename__in=["start_session", "change_jobqueueentry", "add_jobqueueentry"])
    )
    CompanyAccess.objects.create(user=clerk, company="CRONUS")
    clerk = User.objects.get(pk=clerk.pk)
    job = scheduling.add_job("Who Am I", company="CRONUS", ready=False)
    scheduling.set_job_ready(job.id, user=clerk)
    dispatcher.run_once()
    [session] = run_queued()
    assert session.result == "clerk" and session.username == "clerk"
    outsider = User.objects.create_user("outsider")
    with pytest.raises(JobQueueError, match="may not"):
        scheduling.set_job_on_hold(job.id, user=outsider)


def test_an_expired_entry_never_starts():
    job = scheduling.add_job(
        "No-op",
        company="CRONUS",
        earliest_start=clock.now() + timedelta(hours=1),
        expires_at=clock.now() + timedelta(hours=2),
    )
    clock.advance(timedelta(hours=3))
    assert dispatcher.run_once()["jobs"] == []
    job = entry(job.id)
    assert job.status == "finished" and job.last_outcome == "expired"
    assert not BackgroundSession.objects.exists()


def test_bad_job_queue_entries_raise_clearly_and_write_nothing():
    cases = [
        dict(codeunit="Nope"),
        dict(codeunit="No-op", cron="every tuesday"),
        dict(codeunit="No-op", cron="0 0 31 2 *"),  # 31 February never comes
        dict(codeunit="No-op", cron="* * * * * *"),  # a seconds field: not five fields
        dict(codeunit="No-op", weekdays=["funday"]),
        dict(codeunit="No-op", weekdays=["mon"], starting_time=time(17), ending_time=time(8)),
        dict(codeunit="No-op", minutes_between_runs=30),
        dict(codeunit="No-op", weekdays=["mon"], cron="* * * * *"),
        dict(codeunit="No-op", max_attempts=0),
        dict(codeunit="No-op", earliest_start="soon"),
        dict(codeunit="Sleep", params={"seconds": "many"}),
        # Its first run (another weekday) falls after its expiration: it would never run.
        dict(codeunit="No-op", weekdays=[(clock.now().weekday() + 3) % 7], expires_at=clock.now() + timedelta(hours=1)),
    ]
    for kwargs in cases:
        with pytest.raises(SessionStartError) as e:
            scheduling.add_job(company="CRONUS", **kwargs)
        assert str(e.value), kwargs
    assert not JobQueueEntry.objects.exists()
    for action in (scheduling.set_job_ready, scheduling.set_job_on_hold, scheduling.run_job_now):
        with pytest.raises(JobQueueError, match="does not exist"):
            action("12x")


def test_prune_deletes_old_finished_tasks_and_job_log_entries_only():
    from django.core.management import call_command
    from django.utils import timezone

    old, recent, waiting = (scheduling.create_task("No-op", company="CRONUS") for _ in range(3))
    long_ago = timezone.now() - timedelta(days=40)
    ScheduledTask.objects.filter(pk__in=[old, recent]).update(status="succeeded", finished_at=timezone.now())
    ScheduledTask.objects.filter(pk=old).update(finished_at=long_ago)
    job = scheduling.add_job("No-op", company="CRONUS", ready=False)
    scheduling.run_job_now(job.id, debug=True)
    scheduling.run_job_now(job.id, debug=True)
    JobQueueLogEntry.objects.filter(pk=JobQueueLogEntry.objects.order_by("id").first().pk).update(finished_at=long_ago)
    call_command("prune_sessions", "--older-than", "30")
    assert set(ScheduledTask.objects.values_list("id", flat=True)) == {recent, waiting}
    assert JobQueueLogEntry.objects.count() == 1 and entry(job.id).status == "on_hold"


def test_the_demo_adds_one_recurring_entry_per_company_once():
    from django.core.management import call_command

    for _ in range(2):
        call_command("load_demo", no_user=True, jobs=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    entries = list(JobQueueEntry.objects.order_by("company"))
    assert [(e.company, e.codeunit_name, e.status) for e in entries] == [
        ("CRONUS", "Count Customers", "ready"),
        ("CRONUS UK", "Count Customers", "ready"),
    ]
    assert entries[0].describe_recurrence() == "every 5 min"
    dispatcher.run_once()
    [first, _] = run_queued()
    assert first.result == {"customers": 5}


def test_a_failing_run_now_of_a_finished_entry_is_not_retried_on_its_own():
    job = scheduling.add_job("Write Then Fail", company="CRONUS", max_attempts=3)
    JobQueueEntry.objects.filter(pk=job.id).update(status="finished")
    scheduling.run_job_now(job.id, debug=True)
    job = entry(job.id)
    assert job.status == "finished" and job.last_outcome == "error" and job.attempts == 0
    clock.advance(timedelta(days=1))
    assert dispatcher.run_once()["jobs"] == []


def test_a_user_cancels_or_readies_only_tasks_they_may_change_and_a_cancel_stops_the_session():
    clerk = User.objects.create_user("clerk")
    uk_task = scheduling.create_task("No-op", company="CRONUS UK", ready=False)
    assert not scheduling.cancel_task(uk_task, user=clerk) and not scheduling.set_task_ready(uk_task, user=clerk)
    clerk.user_permissions.add(Permission.objects.get(codename="change_scheduledtask"))
    CompanyAccess.objects.create(user=clerk, company="CRONUS")
    clerk = User.objects.get(pk=clerk.pk)
    assert not scheduling.cancel_task(uk_task, user=clerk)  # not their company
    running = scheduling.create_task("No-op", company="CRONUS")
    dispatcher.run_once()
    assert scheduling.cancel_task(running, user=clerk)  # no stop_session permission needed for its own session
    session = BackgroundSession.objects.get(pk=task(running).session_id)
    assert session.status == "cancelled" and "cancelled by clerk" in session.stop_comment
    assert task(uk_task).status == "not_ready"


def test_an_entry_whose_schedule_has_no_next_run_ends_in_error_and_the_others_go_on():
    bad = scheduling.add_job("No-op", company="CRONUS", cron="0 6 * * 1")
    good = scheduling.add_job("No-op", company="CRONUS", weekdays=["mon-sun"], minutes_between_runs=5)
    JobQueueEntry.objects.filter(pk=bad.id).update(cron="0 0 31 2 *", earliest_start=None)  # as if stored long ago
    JobQueueEntry.objects.filter(pk=good.id).update(earliest_start=None)
    assert sorted(dispatcher.run_once()["jobs"]) == [bad.id, good.id]
    run_queued()
    dispatcher.run_once()
    assert entry(bad.id).status == "error" and entry(bad.id).error_message.startswith("No next run")
    assert entry(good.id).status == "ready" and entry(good.id).earliest_start > clock.now()


def test_the_job_queue_chains_every_30_minutes_through_the_fall_back_day_via_the_database(settings):
    """Each next run is computed from the previous one read back in UTC, as the dispatcher does (see test_dst.py)."""
    from datetime import UTC

    from sessions_app.scheduling import jobqueue

    settings.TIME_ZONE = "Europe/Berlin"
    job = scheduling.add_job(
        "No-op",
        company="CRONUS",
        ready=False,
        weekdays=["mon-sun"],
        starting_time=time(1),
        ending_time=time(5),
        minutes_between_runs=30,
    )
    planned = jobqueue.first_run(job, datetime(2026, 10, 25, 0, 0, tzinfo=BERLIN))
    runs = []
    while planned < datetime(2026, 10, 26, tzinfo=BERLIN):
        runs.append(planned)
        JobQueueEntry.objects.filter(pk=job.id).update(earliest_start=planned)
        job = entry(job.id)
        planned = jobqueue.next_run(job, now=job.earliest_start)
    assert [f"{run.astimezone(BERLIN):%H:%M %Z}" for run in runs] == [
        *["01:00 CEST", "01:30 CEST", "02:00 CEST", "02:30 CEST"],
        *["02:00 CET", "02:30 CET", "03:00 CET", "03:30 CET", "04:00 CET", "04:30 CET", "05:00 CET"],
    ]
    instants = [run.astimezone(UTC) for run in runs]
    assert {b - a for a, b in zip(instants, instants[1:])} == {timedelta(minutes=30)}


def test_stored_parameters_leave_out_generated_defaults_so_every_run_makes_its_own():
    import uuid

    from demo.models import SessionLog

    job = scheduling.add_job("Insert Row", company="CRONUS", weekdays=["mon-sun"], minutes_between_runs=1)
    assert JobQueueEntry.objects.get(pk=job.id).params == {"result": ""}  # no log_id: a new GUID per run
    first = scheduling.run_job_now(job.id, debug=True)
    JobQueueEntry.objects.filter(pk=job.id).update(status="ready")
    second = scheduling.run_job_now(job.id, debug=True)
    assert (first.status, second.status) == ("succeeded", "succeeded"), (first.error, second.error)
    assert first.params["log_id"] != second.params["log_id"]
    assert SessionLog.objects.using("company_cronus").count() == 2
    given = str(uuid.uuid4())
    task_id = scheduling.create_task("Insert Row", company="CRONUS", params={"log_id": given}, ready=False)
    assert ScheduledTask.objects.get(pk=task_id).params == {"log_id": given, "result": ""}


def test_the_dispatcher_looks_further_only_when_something_runs_or_falls_due():
    horizon = clock.now() + timedelta(seconds=1)
    assert not dispatcher.has_work(horizon)
    later = scheduling.create_task("No-op", company="CRONUS", not_before=clock.now() + timedelta(hours=1))
    scheduling.create_task("No-op", company="CRONUS", ready=False)
    scheduling.add_job("No-op", company="CRONUS", ready=False)
    assert not dispatcher.has_work(horizon)
    assert dispatcher.has_work(clock.now() + timedelta(hours=2))  # the task falls due by then
    ScheduledTask.objects.filter(pk=later).update(status="running")
    assert dispatcher.has_work(horizon)
    ScheduledTask.objects.filter(pk=later).update(status="succeeded")
    job = scheduling.add_job("No-op", company="CRONUS")  # ready, no earliest start: due now
    assert dispatcher.has_work(horizon)
    JobQueueEntry.objects.filter(pk=job.id).update(status="on_hold")
    assert not dispatcher.has_work(horizon)
