"""Management commands: real processes, real exit codes, nothing written on bad input."""

import json
import os
import subprocess
import sys

import pytest
from django.core.management import call_command

from sessions_app.models import BackgroundSession
from tests.conftest import BASE_DIR, queued_tasks

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]


def manage(*args, timeout=120):
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", SESSIONS_LOG_LEVEL="WARNING")
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["Teh Works"], b"Codeunit 'Teh Works' is not registered."),
        (["The Works", "--company", "CRONUS US"], b"Company 'CRONUS US' does not exist."),
        (
            ["The Works", "--param", "customer_no=" + "x" * 21],
            b"customer_no: Ensure this value has at most 20 characters",
        ),
        (["The Works", "--param", "customer_no"], b"'customer_no' is not KEY=VALUE"),
        (["The Works", "--param", "=x"], b"'=x' is not KEY=VALUE"),
        (["The Works", "--param", "log_id=not-a-guid"], b"log_id: Enter a valid UUID."),
        (["The Works", "--param", "colour=blue"], b"colour: Unknown field"),
        (["The Works", "--param", "vendor_no=a", "--param", "vendor_no=b"], b"--param vendor_no is given twice."),
        (["The Works", "--timeout", "0"], b"must be a positive number of seconds"),
        (["The Works", "--timeout", "soon"], b"'soon' is not a number of seconds"),
        (["The Works", "--timeout", "99999999"], b"Timeout"),
        (["The Works", "--bogus"], b"unrecognized arguments: --bogus"),
        ([b"The \xff Works"], b"is not valid UTF-8"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_writes_nothing(args, message):
    result = manage("start_session", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert b"Traceback" not in result.stderr
    assert result.stdout == b""
    assert not BackgroundSession.objects.exists()
    assert queued_tasks() == 0


def test_start_prints_the_session_id_and_exits_0():
    result = manage("start_session", "The Works", "--company", "CRONUS UK", "--param", "customer_no=hello")
    assert result.returncode == 0, result.stderr
    first = result.stdout.decode().splitlines()[0]
    s = BackgroundSession.objects.get()
    assert first == str(s.id)
    assert (s.company, s.status, s.params["customer_no"]) == ("CRONUS UK", "queued", "HELLO")
    assert queued_tasks() == 1


def test_key_timeout_and_json():
    out = manage("start_session", "No-op", "--key", "k-1", "--timeout", "90", "--json")
    again = manage("start_session", "No-op", "--key", "k-1", "--json")
    assert out.returncode == again.returncode == 0
    a, b = json.loads(out.stdout), json.loads(again.stdout)
    assert a["id"] == b["id"] and a["timeout"] == 90 and a["key"] == "k-1" and a["status"] == "queued"
    assert queued_tasks() == 1


def test_debug_runs_inline_and_exit_code_follows_the_outcome():
    ok = manage("start_session", "Insert Row", "--debug", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "succeeded" and json.loads(ok.stdout)["mode"] == "inline"
    failed = manage("start_session", "Write Then Fail", "--debug")
    assert failed.returncode == 1
    assert b"failed" in failed.stdout and b"ValueError: planned failure" in failed.stdout
    assert queued_tasks() == 0


@pytest.mark.integration
def test_wait_prints_the_id_then_the_outcome_and_elapsed_time(cluster, demo_data):
    result = manage(
        "start_session",
        "The Works",
        "--company",
        "CRONUS UK",
        "--param",
        "customer_no=hello",
        "--param",
        "vendor_no=world",
        "--wait",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    s = BackgroundSession.objects.get()
    assert lines[0] == str(s.id)
    assert s.status == "succeeded"
    assert any(line.startswith(f"Session {s.id} succeeded in ") and line.endswith("s") for line in lines)
    assert any("The Works in CRONUS UK" in line for line in lines)  # the live log line
    assert any("HELLO WORLD" in line for line in lines)


@pytest.mark.integration
def test_wait_exits_1_when_the_session_fails(cluster):
    result = manage("start_session", "Write Then Fail", "--company", "CRONUS", "--wait")
    assert result.returncode == 1
    assert b"ValueError: planned failure" in result.stdout


def test_sessions_lists_and_filters(capsys):
    BackgroundSession.objects.create(codeunit_id=90007, codeunit_name="No-op", company="CRONUS", status="queued")
    call_command("start_session", "Insert Row", company="CRONUS UK", debug=True, json=True)
    capsys.readouterr()
    call_command("sessions", json=True)
    rows = json.loads(capsys.readouterr().out)
    assert [r["codeunit_name"] for r in rows] == ["Insert Row", "No-op"]
    call_command("sessions", "--active", "--json")
    assert [r["status"] for r in json.loads(capsys.readouterr().out)] == ["queued"]
    call_command("sessions", "--company", "CRONUS UK", "--status", "succeeded", "--json")
    assert [r["company"] for r in json.loads(capsys.readouterr().out)] == ["CRONUS UK"]
    call_command("sessions")
    assert "Insert Row" in capsys.readouterr().out


def test_sessions_bad_input():
    assert manage("sessions", "--company", "Nowhere").returncode == 2
    assert manage("sessions", "--status", "exploded").returncode == 2
    assert manage("sessions", "--limit", "0").returncode == 2


def test_codeunits_lists_each_parameter_records_fields(capsys):
    call_command("codeunits", json=True)
    works = next(c for c in json.loads(capsys.readouterr().out) if c["id"] == 50100)
    assert works["name"] == "The Works"
    assert [(f["name"], f["type"]) for f in works["fields"]] == [
        ("customer_no", "Code[20]"),
        ("vendor_no", "Code[20]"),
        ("log_id", "Guid"),
    ]
    call_command("codeunits")
    assert "customer_no: Code[20]" in capsys.readouterr().out


def test_companies_lists_aliases_and_migration_state(capsys):
    call_command("companies", json=True)
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["alias"], r["migrations"]) for r in rows] == [
        ("CRONUS", "company_cronus", "migrated"),
        ("CRONUS UK", "company_cronus_uk", "migrated"),
    ]
    assert all("PASSWORD" not in json.dumps(r) for r in rows)


@pytest.mark.integration
def test_wait_on_a_terminal_shows_a_progress_bar_and_the_log(cluster):
    import pty

    main, secondary = pty.openpty()
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", SESSIONS_LOG_LEVEL="WARNING", COLUMNS="100")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(BASE_DIR / "manage.py"),
            "start_session",
            "Busy Loop",
            "--param",
            "steps=20",
            "--param",
            "pause=0.1",
            "--wait",
        ],
        cwd=BASE_DIR,
        env=env,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        close_fds=True,
    )
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        output += chunk
    assert proc.wait(timeout=60) == 0
    os.close(main)
    text = output.decode(errors="replace")
    assert "%|" in text and "20/20" in text  # tqdm's bar, filled
    assert "step 1" in text and "succeeded in" in text


HUGE = "99999999999999999999"  # beyond SQLite's 64-bit integers and timedelta's limits
JOB = ["job_queue", "add", "No-op", "--company", "CRONUS"]
AT_MOST_INT = "must be at least 1 and at most 9223372036854775807"
AT_MOST_SECONDS = "must be a positive number of seconds, at most 86399999913600"


def scheduling_rows():
    from sessions_app.scheduling.models import JobQueueEntry, JobQueueLogEntry, ScheduledTask

    models = (BackgroundSession, ScheduledTask, JobQueueEntry, JobQueueLogEntry)
    return [sorted(model.objects.values_list("id", flat=True)) for model in models]


@pytest.mark.parametrize(
    "args, message",
    [
        (["sessions", "--limit", HUGE], f"'{HUGE}' {AT_MOST_INT}"),
        (["sessions", "--limit", "9223372036854775808"], f"'9223372036854775808' {AT_MOST_INT}"),
        (["sessions", "--limit", "9" * 5000], f"'{'9' * 20}...{'9' * 10}' {AT_MOST_INT}"),  # past int()'s digits
        (["prune_sessions", "--older-than", "1000000"], "'1000000' must be at least 1 and at most 36500"),
        (["prune_sessions", "--older-than", HUGE], f"'{HUGE}' must be at least 1 and at most 36500"),
        (
            ["start_session", "No-op", "--company", "CRONUS", "--timeout", "99999999999999999999999"],
            f"'99999999999999999999999' {AT_MOST_SECONDS}",
        ),
        (["start_session", "No-op", "--timeout", "1e309"], f"'1e309' {AT_MOST_SECONDS}"),
        (["start_session", "No-op", "--timeout", "nan"], f"'nan' {AT_MOST_SECONDS}"),
        # Within timedelta's range, beyond SESSIONS_MAX_TIMEOUT: the API's message.
        (["start_session", "No-op", "--timeout", "86399999913600"], "must be between 1 second and 1 day"),
        (["tasks", "list", "--limit", HUGE], f"'{HUGE}' {AT_MOST_INT}"),
        (["tasks", "create", "No-op", "--timeout", "1e300"], f"'1e300' {AT_MOST_SECONDS}"),
        (["tasks", "cancel", HUGE], f"Scheduled task '{HUGE}' does not exist."),
        (["tasks", "ready", HUGE], f"Scheduled task '{HUGE}' does not exist."),
        ([*JOB, "--weekdays", "mon", "--every", HUGE], f"'{HUGE}' {AT_MOST_INT}"),
        ([*JOB, "--weekdays", "mon", "--every", "9223372036854775807"], "Between 1 and 10080 minutes."),
        ([*JOB, "--max-attempts", HUGE], f"'{HUGE}' must be at most 32767"),
        ([*JOB, "--rerun-delay", HUGE], f"'{HUGE}' must be at least 0 and at most 2147483647"),
        ([*JOB, "--rerun-delay", "-1"], "'-1' must be at least 0 and at most 2147483647"),
        ([*JOB, "--timeout", "1e20"], f"'1e20' {AT_MOST_SECONDS}"),
        (["job_queue", "ready", HUGE], f"Job queue entry '{HUGE}' does not exist."),
        (["job_queue", "hold", HUGE], f"Job queue entry '{HUGE}' does not exist."),
        (["job_queue", "restart", HUGE], f"Job queue entry '{HUGE}' does not exist."),
        (["job_queue", "run", HUGE], f"Job queue entry '{HUGE}' does not exist."),
    ],
)
def test_absurd_numbers_exit_2_with_a_one_line_message_and_write_nothing(args, message):
    from datetime import timedelta

    from django.utils import timezone

    from sessions_app.scheduling import api as scheduling

    long_ago = timezone.now() - timedelta(days=400)
    BackgroundSession.objects.create(
        codeunit_id=90007, codeunit_name="No-op", company="CRONUS", status="succeeded", finished_at=long_ago
    )
    scheduling.create_task("No-op", company="CRONUS", ready=False)
    scheduling.add_job("No-op", company="CRONUS", ready=False)
    before = scheduling_rows()
    result = manage(*args)
    assert result.returncode == 2, result.stderr
    stderr = result.stderr.decode()
    assert "Traceback" not in stderr and "OverflowError" not in stderr and "DatabaseError" not in stderr
    assert message in stderr.strip().splitlines()[-1]  # the value and the allowed range, on one line
    assert result.stdout == b""
    assert scheduling_rows() == before  # nothing started, created or pruned
    assert queued_tasks() == 0
