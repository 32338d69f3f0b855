"""The `tasks` and `job_queue` commands: rows really change; bad input exits 2 and writes nothing."""

import io
import json
import os
import subprocess
import sys
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from sessions_app import api, runner
from sessions_app.exceptions import SessionStartError
from sessions_app.models import BackgroundSession
from sessions_app.scheduling import api as scheduling
from sessions_app.scheduling.models import JobQueueEntry, JobQueueLogEntry, ScheduledTask
from tests.conftest import BASE_DIR, queued_tasks

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]

BERLIN = ZoneInfo("Europe/Berlin")


def manage(*args):
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", SESSIONS_LOG_LEVEL="WARNING")
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args], cwd=BASE_DIR, env=env, capture_output=True, timeout=120
    )


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def fails(*args, code: int = 2) -> str:
    """Run a command that must fail with exit ``code``; return its message."""
    with pytest.raises(CommandError) as e:
        run(*args)
    assert e.value.returncode == code, e.value
    return str(e.value)


def rows() -> tuple:
    """Everything the commands may write, to compare before and after."""
    return (
        list(ScheduledTask.objects.values()),
        list(JobQueueEntry.objects.values()),
        JobQueueLogEntry.objects.count(),
        BackgroundSession.objects.count(),
        queued_tasks(),
    )


def task(task_id) -> ScheduledTask:
    return ScheduledTask.objects.get(pk=task_id)


def entry(entry_id) -> JobQueueEntry:
    return JobQueueEntry.objects.get(pk=entry_id)


# tasks


def test_tasks_create_prints_the_id_and_writes_the_task(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    out = run(
        "tasks",
        "create",
        "Insert Row",
        "--company",
        "CRONUS UK",
        "--param",
        "result=hello",
        "--not-before",
        "2030-01-02T03:04",
        "--failure-codeunit",
        "Who Am I",
        "--timeout",
        "90",
    )
    first, summary = out.splitlines()
    t = task(int(first))
    assert summary == f"Task {t.id}: 90001 Insert Row in CRONUS UK (ready, not before 2030-01-02 03:04:00)"
    assert (t.company, t.status, t.params["result"], t.failure_codeunit_name) == (
        "CRONUS UK",
        "ready",
        "hello",
        "Who Am I",
    )
    assert t.not_before == datetime(2030, 1, 2, 3, 4, tzinfo=BERLIN)  # a naive time is in the current time zone
    assert t.timeout == timedelta(seconds=90)

    data = json.loads(run("tasks", "create", "No-op", "--not-ready", "--json"))
    t = task(data["id"])
    assert (t.company, t.status, data["status"]) == ("CRONUS", "not_ready", "not_ready")  # the first company
    assert not BackgroundSession.objects.exists() and queued_tasks() == 0


def test_tasks_lists_the_tasks_that_still_exist_unless_asked_for_all():
    assert run("tasks") == "No tasks.\n"
    waiting = scheduling.create_task("No-op", company="CRONUS", ready=False)
    ready = scheduling.create_task("Insert Row", company="CRONUS UK")
    done = scheduling.create_task("No-op", company="CRONUS")
    ScheduledTask.objects.filter(pk=done).update(status="failed", error_message="ValueError: boom\nTraceback ...")

    assert [t["id"] for t in json.loads(run("tasks", "--json"))] == [ready, waiting]
    assert [t["id"] for t in json.loads(run("tasks", "list", "--all", "--json"))] == [done, ready, waiting]
    assert [t["id"] for t in json.loads(run("tasks", "--company", "CRONUS UK", "--json"))] == [ready]
    assert [t["id"] for t in json.loads(run("tasks", "list", "--status", "failed", "--json"))] == [done]
    assert len(json.loads(run("tasks", "list", "--all", "--limit", "1", "--json"))) == 1
    table = run("tasks", "--all").splitlines()
    assert table[0].split() == ["ID", "CODEUNIT", "COMPANY", "STATUS", "NOT", "BEFORE", "ATTEMPTS", "SESSION", "ERROR"]
    assert len(table) == 4 and "not_ready" in table[3]
    assert table[1].endswith("ValueError: boom")  # the error's first line


def test_tasks_ready_and_cancel_change_the_row_and_exit_1_once_it_has_finished():
    task_id = scheduling.create_task("No-op", company="CRONUS", ready=False)
    out = run("tasks", "ready", str(task_id), "--not-before", "2030-05-06T07:08:09+02:00")
    t = task(task_id)
    assert t.status == "ready" and t.not_before == datetime(2030, 5, 6, 5, 8, 9, tzinfo=ZoneInfo("UTC"))
    assert out == f"Task {task_id} is ready, not before 2030-05-06 05:08:09.\n"

    assert run("tasks", "cancel", str(task_id)) == f"Task {task_id} was cancelled.\n"
    assert task(task_id).status == "cancelled" and not scheduling.task_exists(task_id)
    assert "already finished: cancelled" in fails("tasks", "cancel", str(task_id), code=1)
    assert "already started or finished: cancelled" in fails("tasks", "ready", str(task_id), code=1)
    assert task(task_id).status == "cancelled"


def test_tasks_cancel_of_a_running_task_stops_its_session():
    task_id = scheduling.create_task("No-op", company="CRONUS")
    session = api.start_session("No-op", company="CRONUS", debug=False)
    ScheduledTask.objects.filter(pk=task_id).update(status="running", attempts=1, session_id=session.id)
    assert "already started or finished: running" in fails("tasks", "ready", str(task_id), code=1)
    out = run("tasks", "cancel", str(task_id))
    assert out == f"Task {task_id} was cancelled. Its session {session.id} was asked to stop.\n"
    assert task(task_id).status == "cancelled"
    assert BackgroundSession.objects.get(pk=session.id).status == "cancelled"


@pytest.mark.parametrize(
    "args, message",
    [
        (["create", "Teh Works"], "Codeunit 'Teh Works' is not registered. Closest registered codeunits: 50100"),
        (["create", "No-op", "--company", "CRONUS US"], "Company 'CRONUS US' does not exist. Companies: 'CRONUS', "),
        (
            ["create", "No-op", "--failure-codeunit", "Nope"],
            "Failure codeunit: Codeunit 'Nope' is not registered. Closest registered codeunits: 90007 'No-op'",
        ),
        (["create", "Nope", "--failure-codeunit", "No-op"], "Codeunit 'Nope' is not registered. Closest"),
        (["create", "Insert Row", "--param", "log_id=x"], "log_id: Enter a valid UUID."),
        (["create", "Insert Row", "--param", "result"], "'result' is not KEY=VALUE"),
        (["create", "Insert Row", "--param", "result=a", "--param", "result=b"], "--param result is given twice."),
        (["create", "No-op", "--param", "colour=blue"], "colour"),
        (["create", "No-op", "--not-before", "tomorrow"], "'tomorrow' is not a date and time"),
        (["create", "No-op", "--not-before", "2030-02-30 10:00"], "'2030-02-30 10:00' is not a date and time"),
        (["create", "No-op", "--not-before", "9999-12-31T23:30:00+00:00"], "is out of range: a time from 0001-01-02"),
        (["create", "No-op", "--not-before", "0001-01-01T00:00:00+14:00"], "is out of range"),
        (["create", "No-op", "--timeout", "0"], "'0' must be between 1 and 86400 seconds"),
        (["create"], "the following arguments are required: codeunit"),
        (["cancel", "99"], "Scheduled task '99' does not exist. Tasks that still exist: {task}."),
        (["cancel", "x"], "Scheduled task 'x' does not exist."),
        (["ready", "99"], "Scheduled task '99' does not exist. Tasks that still exist: {task}."),
        (["ready", "{task}", "--not-before", "soon"], "'soon' is not a date and time"),
        (["list", "--company", "Nowhere"], "Company 'Nowhere' does not exist. Companies: 'CRONUS', 'CRONUS UK'."),
        (["list", "--status", "exploded"], "invalid choice: 'exploded'"),
        (["list", "--limit", "0"], "'0' must be at least 1"),
    ],
)
def test_tasks_bad_input_exits_2_and_writes_nothing(args, message):
    existing = scheduling.create_task("No-op", company="CRONUS", ready=False)
    before = rows()
    assert message.format(task=existing) in fails("tasks", *[a.format(task=existing) for a in args])
    assert rows() == before


# job_queue


def test_job_queue_add_writes_the_entry_its_recurrence_and_its_user():
    User.objects.create_superuser("admin")
    out = run(
        "job_queue",
        "add",
        "Insert Row",
        "--company",
        "CRONUS UK",
        "--param",
        "result=posted",
        "--description",
        "Post sales",
        "--weekdays",
        "mon-fri,sat",
        "--start",
        "08:00",
        "--end",
        "17:30",
        "--every",
        "30",
        "--max-attempts",
        "5",
        "--rerun-delay",
        "120",
        "--category",
        "post",
        "--timeout",
        "90",
        "--user",
        "admin",
    )
    first, summary = out.splitlines()
    e = entry(int(first))
    assert summary.startswith(f"Job {e.id}: 90001 Insert Row in CRONUS UK (ready, mon-sat 08:00-17:30")
    assert (e.company, e.description, e.status, e.params["result"]) == ("CRONUS UK", "Post sales", "ready", "posted")
    assert e.weekdays == frozenset(range(6)) and not e.run_on_sundays
    assert (e.starting_time, e.ending_time, e.minutes_between_runs) == (time(8), time(17, 30), 30)
    assert (e.max_attempts, e.rerun_delay, e.category, e.timeout) == (5, 120, "POST", timedelta(seconds=90))
    assert e.earliest_start is not None and e.username == "admin" and e.user_id == User.objects.get().pk

    data = json.loads(
        run(
            "job_queue",
            "add",
            "No-op",
            "--company",
            "CRONUS",
            "--cron",
            "15 6 * * 1",
            "--on-hold",
            "--earliest-start",
            "2030-01-01T00:00Z",
            "--expires",
            "2030-02-01T00:00Z",
            "--json",
        )
    )
    e = entry(data["id"])
    assert (data["status"], data["recurrence"], data["user"]) == ("on_hold", "cron 15 6 * * 1", None)
    assert (e.status, e.cron, e.weekdays) == ("on_hold", "15 6 * * 1", frozenset())
    assert e.earliest_start == datetime(2030, 1, 1, tzinfo=ZoneInfo("UTC"))
    assert e.expires_at == datetime(2030, 2, 1, tzinfo=ZoneInfo("UTC"))
    assert not BackgroundSession.objects.exists() and queued_tasks() == 0


def test_job_queue_lists_entries_with_their_schedule_and_first_error_line():
    assert run("job_queue") == "No job queue entries.\n"
    daily = scheduling.add_job("No-op", company="CRONUS", description="Daily", weekdays=["mon"], starting_time=time(6))
    broken = scheduling.add_job("Write Then Fail", company="CRONUS UK", ready=False, max_attempts=2)
    JobQueueEntry.objects.filter(pk=broken.id).update(
        status="error", attempts=2, last_outcome="error", error_message="ValueError: planned\nmore"
    )
    rows_ = json.loads(run("job_queue", "--json"))
    assert [r["id"] for r in rows_] == [daily.id, broken.id]
    assert rows_[0]["recurrence"] == "mon at 06:00"
    assert [r["id"] for r in json.loads(run("job_queue", "list", "--company", "CRONUS UK", "--json"))] == [broken.id]
    assert [r["id"] for r in json.loads(run("job_queue", "--status", "ready", "--json"))] == [daily.id]
    header, first, second = run("job_queue").splitlines()
    assert header.split()[:5] == ["ID", "COMPANY", "DESCRIPTION", "CODEUNIT", "STATUS"]
    assert "Daily" in first and "mon at 06:00" in first and "0/3" in first
    assert "2/2" in second and second.endswith("error    ValueError: planned")


def test_job_queue_ready_hold_and_restart_change_the_entry():
    User.objects.create_superuser("admin")
    User.objects.create_user("outsider")
    job = scheduling.add_job("No-op", company="CRONUS", ready=False, weekdays=["mon-sun"], minutes_between_runs=15)
    assert entry(job.id).earliest_start is None

    out = run("job_queue", "ready", str(job.id), "--user", "admin")
    e = entry(job.id)
    assert (e.status, e.username) == ("ready", "admin") and e.earliest_start is not None
    assert out.startswith(f"Job {job.id} is ready; next run ")

    assert run("job_queue", "hold", str(job.id)) == f"Job {job.id} is on hold.\n"
    assert entry(job.id).status == "on_hold"

    before = rows()
    assert "'outsider' may not" in fails("job_queue", "ready", str(job.id), "--user", "outsider")
    assert rows() == before

    JobQueueEntry.objects.filter(pk=job.id).update(status="error", attempts=3, error_message="boom")
    assert run("job_queue", "restart", str(job.id)).startswith(f"Job {job.id} was restarted; next run ")
    e = entry(job.id)
    assert (e.status, e.attempts, e.error_message, e.username) == ("ready", 0, "", "admin")


def test_job_queue_changes_to_an_entry_in_process_exit_1():
    job = scheduling.add_job("No-op", company="CRONUS")
    JobQueueEntry.objects.filter(pk=job.id).update(status="in_process")
    before = rows()
    for action in ("ready", "hold", "restart"):
        assert "is in process" in fails("job_queue", action, str(job.id), code=1)
    assert "is in process already" in fails("job_queue", "run", str(job.id), code=1)
    assert rows() == before


def test_job_queue_run_starts_a_background_session_and_respects_the_category():
    first = scheduling.add_job("No-op", company="CRONUS", category="post", ready=False)
    second = scheduling.add_job("No-op", company="CRONUS", category="POST")
    out = run("job_queue", "run", str(first.id))
    session = BackgroundSession.objects.get()
    assert out.splitlines() == [str(session.id), f"Session {session.id}: job {first.id} No-op in CRONUS"]
    assert (session.status, session.mode, session.origin) == ("queued", "background", f"job:{first.id}:1")
    assert (entry(first.id).status, entry(first.id).session_id) == ("in_process", session.id)
    assert JobQueueLogEntry.objects.get().session_id == session.id and queued_tasks() == 1

    before = rows()
    assert f"Category POST is busy: entry {first.id} is in process." in fails(
        "job_queue", "run", str(second.id), code=1
    )
    assert rows() == before


def test_job_queue_run_debug_runs_inline_and_exits_1_when_it_fails():
    ok = scheduling.add_job("Who Am I", company="CRONUS", ready=False)
    out = run("job_queue", "run", str(ok.id), "--debug")
    session = BackgroundSession.objects.get()
    assert out.splitlines()[0] == str(session.id) and f"Session {session.id} succeeded in " in out
    assert (session.mode, entry(ok.id).status, entry(ok.id).last_outcome) == ("inline", "on_hold", "success")

    bad = scheduling.add_job("Write Then Fail", company="CRONUS", ready=False)
    stdout = io.StringIO()
    with pytest.raises(CommandError) as e:
        call_command("job_queue", "run", str(bad.id), "--debug", stdout=stdout)
    assert e.value.returncode == 1
    assert "failed in" in stdout.getvalue() and "ValueError: planned failure" in stdout.getvalue()
    assert entry(bad.id).last_outcome == "error" and queued_tasks() == 0


@pytest.mark.parametrize("codeunit, code", [("No-op", 0), ("Write Then Fail", 1)])
def test_job_queue_run_wait_prints_the_outcome_of_the_background_run(monkeypatch, codeunit, code):
    def wait_session(session_id, timeout=None, poll=0.05):  # a worker runs it, here
        runner.run(session_id)
        return api.get_session(session_id)

    monkeypatch.setattr(api, "wait_session", wait_session)
    job = scheduling.add_job(codeunit, company="CRONUS", ready=False)
    stdout = io.StringIO()
    if code:
        with pytest.raises(CommandError) as e:
            call_command("job_queue", "run", str(job.id), "--wait", stdout=stdout)
        assert e.value.returncode == code
    else:
        call_command("job_queue", "run", str(job.id), "--wait", stdout=stdout)
    session = BackgroundSession.objects.get()
    assert session.mode == "background" and session.status == ("failed" if code else "succeeded")
    assert f"Session {session.id} {session.status} in " in stdout.getvalue()


ADD = ["add", "No-op", "--company", "CRONUS"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["add", "Teh Works", "--company", "CRONUS"], "Codeunit 'Teh Works' is not registered."),
        (["add", "No-op", "--company", "CRONUS US"], "Company 'CRONUS US' does not exist."),
        (["add", "No-op"], "the following arguments are required: --company"),
        (["add", "Insert Row", "--company", "CRONUS", "--param", "log_id=x"], "log_id: Enter a valid UUID."),
        (["add", "Insert Row", "--company", "CRONUS", "--param", "=x"], "'=x' is not KEY=VALUE"),
        ([*ADD, "--weekdays", "funday"], "is not a weekday"),
        ([*ADD, "--weekdays", "mon-xyz"], "is not a weekday"),
        ([*ADD, "--weekdays", ","], "names no weekday"),
        ([*ADD, "--weekdays", "mon", "--start", "8am"], "'8am' is not a time of day (HH:MM)"),
        ([*ADD, "--weekdays", "mon", "--end", "24:00"], "'24:00' is not a time of day (HH:MM)"),
        ([*ADD, "--weekdays", "mon", "--start", "17:00", "--end", "08:00"], "ending time must be after"),
        ([*ADD, "--start", "08:00"], "--weekdays: A recurring entry needs at least one weekday (e.g. --weekdays"),
        ([*ADD, "--every", "30"], "Invalid job queue entry: --weekdays: A recurring entry needs at least one weekday"),
        ([*ADD, "--weekdays", "mon", "--every", "0"], "'0' must be at least 1"),
        ([*ADD, "--weekdays", "mon", "--every", "99999"], "--every: Between 1 and 10080 minutes."),
        ([*ADD, "--cron", "every tuesday"], "'every tuesday' is not a cron expression that will match"),
        ([*ADD, "--cron", "61 * * * *"], "is not a cron expression that will match"),
        ([*ADD, "--weekdays", "mon", "--cron", "* * * * *"], "either a cron expression or weekdays"),
        ([*ADD, "--earliest-start", "soon"], "'soon' is not a date and time"),
        ([*ADD, "--expires", "2030-13-01"], "is not a date and time"),
        ([*ADD, "--earliest-start", "9999-12-31 23:30"], "is out of range"),
        ([*ADD, "--earliest-start", "2030-01-02", "--expires", "2030-01-01"], "expiration must be after"),
        ([*ADD, "--max-attempts", "0"], "--max-attempts: At least 1."),
        ([*ADD, "--rerun-delay", "soon"], "'soon' is not a whole number"),
        ([*ADD, "--timeout", "0"], "'0' must be between 1 and 86400 seconds"),
        ([*ADD, "--user", "nobody"], "User 'nobody' does not exist."),
        ([*ADD, "--user", "outsider"], "'outsider' may not"),
        (["ready", "99"], "Job queue entry '99' does not exist. Job queue entries: {job}."),
        (["ready", "{job}", "--user", "nobody"], "User 'nobody' does not exist."),
        (["hold", "12x"], "Job queue entry '12x' does not exist. Job queue entries: {job}."),
        (["restart", "99"], "Job queue entry '99' does not exist. Job queue entries: {job}."),
        (["run", "99"], "Job queue entry '99' does not exist. Job queue entries: {job}."),
        (["run"], "the following arguments are required: id"),
        (["add", "Teh Works", "--company", "cronus"], "Closest registered codeunits: 50100 'The Works'"),
        (["add", "No-op", "--company", "CRONUS US"], "Companies: 'CRONUS', 'CRONUS UK'."),
        (["list", "--company", "Nowhere"], "Company 'Nowhere' does not exist. Companies: 'CRONUS', 'CRONUS UK'."),
        (["list", "--status", "exploded"], "invalid choice: 'exploded'"),
    ],
)
def test_job_queue_bad_input_exits_2_and_writes_nothing(args, message):
    User.objects.create_user("outsider")
    existing = scheduling.add_job("No-op", company="CRONUS", ready=False)
    before = rows()
    assert message.format(job=existing.id) in fails("job_queue", *[a.format(job=existing.id) for a in args])
    assert rows() == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["add", "No-op", "--company", "CRONUS", "--cron", "61 * * * *"], "is not a cron expression that will match"),
        (["run", "12x"], "Job queue entry '12x' does not exist."),
    ],
)
def test_job_queue_bad_input_from_the_command_line_is_one_line_on_stderr(args, message):
    result = manage("job_queue", *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("CommandError: ") and message in lines[0], lines
    assert result.stdout == b""
    assert not JobQueueEntry.objects.exists() and not BackgroundSession.objects.exists()


def test_the_action_defaults_to_list_and_ids_are_positional(capsys):
    task_id = scheduling.create_task("No-op", company="CRONUS")
    call_command("tasks")
    assert "No-op" in capsys.readouterr().out
    call_command("tasks", "cancel", str(task_id))
    assert task(task_id).status == "cancelled"
    job = scheduling.add_job("No-op", company="CRONUS")
    call_command("job_queue")
    assert "No-op" in capsys.readouterr().out
    call_command("job_queue", "hold", str(job.id))
    assert entry(job.id).status == "on_hold"


# Company names in any case; unknown ids name the closest of many; INFO lines only with -v 2.


def test_company_names_match_in_any_case_in_tasks_and_job_queue():
    task_id = int(run("tasks", "create", "No-op", "--company", "cronus uk").splitlines()[0])
    assert task(task_id).company == "CRONUS UK"
    assert [t["id"] for t in json.loads(run("tasks", "--company", "Cronus Uk", "--json"))] == [task_id]
    assert json.loads(run("tasks", "list", "--company", "cronus", "--json")) == []

    entry_id = int(run("job_queue", "add", "No-op", "--company", "cronus", "--on-hold").splitlines()[0])
    assert entry(entry_id).company == "CRONUS"
    assert [e["id"] for e in json.loads(run("job_queue", "list", "--company", "CrOnUs", "--json"))] == [entry_id]
    assert json.loads(run("job_queue", "--company", "cronus uk", "--json")) == []


def test_an_unknown_id_among_many_names_the_closest():
    jobs = [scheduling.add_job("No-op", company="CRONUS", ready=False).id for _ in range(12)]
    missing = jobs[-1] + 10
    message = fails("job_queue", "hold", str(missing))
    assert message == (
        f"Job queue entry '{missing}' does not exist. Closest job queue entries: "
        f"{', '.join(map(str, jobs[-5:]))} (`manage.py job_queue` lists all 12)."
    )
    tasks = [scheduling.create_task("No-op", company="CRONUS", ready=False) for _ in range(12)]
    ScheduledTask.objects.filter(pk=tasks[0]).update(status="cancelled")  # finished: not a choice
    message = fails("tasks", "ready", "0")
    assert message == (
        "Scheduled task '0' does not exist. Closest tasks that still exist: "
        f"{', '.join(map(str, tasks[1:6]))} (`manage.py tasks` lists all 11)."
    )
    assert "`manage.py tasks` lists the 11 tasks that still exist." in fails("tasks", "cancel", "nope")


def test_job_queue_exit_codes_follow_the_reason():
    """1: the entry is in process (it could not); 2: a user who may not (bad input), whatever the entry's state."""
    User.objects.create_user("outsider")
    job = scheduling.add_job("No-op", company="CRONUS", ready=False)
    JobQueueEntry.objects.filter(pk=job.id).update(status="in_process")
    before = rows()
    assert "'outsider' may not" in fails("job_queue", "ready", str(job.id), "--user", "outsider", code=2)
    assert "is in process" in fails("job_queue", "ready", str(job.id), code=1)
    assert rows() == before


def test_info_log_lines_only_with_verbosity_2_before_or_after_the_action(caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="sessions_app"):
        run("tasks", "create", "No-op")
        run("job_queue", "add", "No-op", "--company", "CRONUS")
        assert [r.getMessage() for r in caplog.records if r.levelno < logging.WARNING] == []
        run("tasks", "create", "No-op", "-v", "2")
        run("tasks", "-v", "2", "create", "No-op")
        run("job_queue", "add", "No-op", "--company", "CRONUS", "-v", "2")
        infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
        assert len([m for m in infos if m.startswith("task=")]) == 2
        assert len([m for m in infos if m.startswith("job=")]) == 1
    assert ScheduledTask.objects.count() == 3 and JobQueueEntry.objects.count() == 2


def test_info_log_lines_stay_off_stderr_of_a_real_process():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings")
    env.pop("SESSIONS_LOG_LEVEL", None)  # the project's INFO level
    result = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "tasks", "create", "No-op"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert result.stdout.decode().splitlines()[0] == str(ScheduledTask.objects.get().id)


@pytest.mark.parametrize("when", ["9999-12-31T23:30:00+00:00", "9999-12-31T23:59:59", "0001-01-01T00:00:00+14:00"])
def test_a_time_no_time_zone_can_show_is_refused_at_every_door_and_never_stored(when, settings, client):
    """East of UTC, 9999-12-31 23:30 UTC is in the year 10000: stored, it made every page of its company a 500."""
    from django.utils.dateparse import parse_datetime
    from django.utils.timezone import make_aware

    settings.TIME_ZONE = "Europe/Berlin"
    before = rows()
    assert "is out of range" in fails("tasks", "create", "No-op", "--not-before", when)
    result = manage("tasks", "create", "No-op", "--not-before", when)
    assert result.returncode == 2 and b"out of range" in result.stderr and b"Traceback" not in result.stderr
    value = parse_datetime(when)
    value = value if value.tzinfo else make_aware(value, BERLIN)
    for call in (
        lambda: scheduling.create_task("No-op", company="CRONUS", not_before=value),
        lambda: scheduling.add_job("No-op", company="CRONUS", earliest_start=value),
        lambda: scheduling.add_job("No-op", company="CRONUS", expires_at=value),
    ):
        with pytest.raises(SessionStartError) as e:
            call()
        assert e.value.reason == "invalid_params" and "out of range" in str(e.value)
    existing = scheduling.create_task("No-op", company="CRONUS", ready=False)
    with pytest.raises(SessionStartError):
        scheduling.set_task_ready(existing, not_before=value)
    ScheduledTask.objects.filter(pk=existing).delete()
    assert rows() == before
    assert rows() == before


def test_the_job_queue_page_refuses_a_start_no_time_zone_can_show(settings, client):
    settings.TIME_ZONE = "Europe/Berlin"
    client.force_login(User.objects.create_superuser("far-future"))
    before = rows()
    form = {"company": "CRONUS", "codeunit": "90007", "max_attempts": "3", "rerun_delay": "60"}
    for field in ("earliest_start", "expires_at"):
        page = client.post("/sessions/jobs/add/", {**form, field: "9999-12-31T00:30"})  # 23:30 UTC: too late
        assert page.status_code == 400 and b"out of range" in page.content, (field, page.content[-3000:])
    assert rows() == before
