"""Management commands: real processes, real exit codes, nothing written on bad input."""

import io
import json
import logging
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from sessions_app.exceptions import SessionStartError
from sessions_app.models import BackgroundSession
from tests.conftest import BASE_DIR, queued_tasks

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]


def manage(*args, timeout=120, log_level="WARNING"):
    """Run ``manage.py`` in a process of its own; ``log_level=None`` keeps the project's (INFO) log level."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", SESSIONS_LOG_LEVEL=log_level or "")
    if log_level is None:
        del env["SESSIONS_LOG_LEVEL"]
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
        (["The Works", "--timeout", "0"], b"'0' must be between 1 and 86400 seconds"),
        (["The Works", "--timeout", "soon"], b"'soon' is not a number of seconds"),
        (
            ["The Works", "--timeout", "100000"],
            b"--timeout: '100000' must be between 1 and 86400 seconds (24 hours, the SESSIONS_MAX_TIMEOUT setting)",
        ),
        (["The Works", "--bogus"], b"unrecognized arguments: --bogus"),
        # A command has no open transaction of its caller to wait for.
        (["The Works", "--on-commit"], b"unrecognized arguments: --on-commit"),
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


def test_companies_prints_a_header_line(capsys):
    call_command("companies")
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == ["NAME", "ALIAS", "ENGINE", "MIGRATIONS", "DATABASE"]
    assert [line.split()[0] for line in lines] == ["CRONUS", "CRONUS"]
    assert "company_cronus_uk" in lines[1] and "migrated" in lines[1]


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
AT_MOST_SECONDS = "must be between 1 and 86400 seconds (24 hours, the SESSIONS_MAX_TIMEOUT setting)"


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
        (["start_session", "No-op", "--timeout", "86399999913600"], f"'86399999913600' {AT_MOST_SECONDS}"),
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


def fails(*args, code: int, **options) -> str:
    """Run a command in this process that must fail with exit ``code``; return its message."""
    with pytest.raises(CommandError) as e:
        call_command(*args, stdout=io.StringIO(), stderr=io.StringIO(), **options)
    assert e.value.returncode == code, e.value
    return str(e.value)


# Company names match in any case, as codeunit names do.


def test_company_names_match_in_any_case():
    result = manage("start_session", "No-op", "--company", "cronus uk", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["company"] == "CRONUS UK"
    assert BackgroundSession.objects.get().company == "CRONUS UK"  # stored under its configured name
    out = io.StringIO()
    call_command("sessions", "--company", "Cronus UK", "--json", stdout=out)
    assert [r["company"] for r in json.loads(out.getvalue())] == ["CRONUS UK"]
    out = io.StringIO()
    call_command("sessions", "--company", "cronus", "--json", stdout=out)
    assert json.loads(out.getvalue()) == []


def test_a_company_name_that_matches_two_companies_in_other_cases_is_refused(settings):
    settings.SESSIONS_COMPANIES = {"CRONUS": "company_cronus", "Cronus": "company_cronus_uk"}
    message = fails("start_session", "No-op", "--company", "cronus", code=2)
    assert "'CRONUS' and 'Cronus', which differ only in case" in message
    assert "differ only in case" in fails("sessions", "--company", "cronus", code=2)
    call_command("start_session", "No-op", "--company", "Cronus", stdout=io.StringIO())  # the exact name works
    assert list(BackgroundSession.objects.values_list("company", flat=True)) == ["Cronus"]


# Unknown names and ids: the message names the valid choices, or the closest of many.


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["start_session", "Teh Works"],
            "Codeunit 'Teh Works' is not registered. Closest registered codeunits: 50100 'The Works' "
            "(`manage.py codeunits` lists all ",
        ),
        (["start_session", "99999"], "`manage.py codeunits` lists the "),
        (
            ["start_session", "No-op", "--company", "CRONUS US"],
            "Company 'CRONUS US' does not exist. Companies: 'CRONUS', 'CRONUS UK'.",
        ),
        (["sessions", "--company", "Nowhere"], "Company 'Nowhere' does not exist. Companies: 'CRONUS', 'CRONUS UK'."),
        (["stop_session", "999"], "Session 999 does not exist. No session is active."),
    ],
)
def test_unknown_names_and_ids_name_the_choices_and_exit_2(args, message):
    result = manage(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert result.stdout == b""


def test_an_unknown_session_id_names_the_active_sessions_or_the_closest_of_many():
    ids = [
        BackgroundSession.objects.create(codeunit_id=90007, codeunit_name="No-op", company="CRONUS", status=status).id
        for status in ("queued", "running", "succeeded")
    ]
    assert f"Session 999 does not exist. Active sessions: {ids[0]}, {ids[1]}." in fails("stop_session", "999", code=2)
    many = [
        BackgroundSession.objects.create(codeunit_id=90007, codeunit_name="No-op", company="CRONUS").id
        for _ in range(12)
    ]
    BackgroundSession.objects.filter(pk=many[5]).delete()
    message = fails("stop_session", str(many[5]), code=2)
    near = sorted(sorted(set(many) - {many[5]}, key=lambda pk: (abs(pk - many[5]), pk))[:5])
    closest = ", ".join(map(str, near))
    assert f"Closest active sessions: {closest} (`manage.py sessions --active` lists all 13)." in message
    assert not BackgroundSession.objects.filter(stop_requested_at__isnull=False).exists()  # nothing was stopped


# One exit-code rule: 0 done, 1 could not, 2 bad input or an unknown id or name.


def test_stop_session_exits_0_when_done_1_when_it_could_not_and_2_for_an_unknown_id():
    s = BackgroundSession.objects.create(codeunit_id=90007, codeunit_name="No-op", company="CRONUS", status="queued")
    assert manage("stop_session", str(s.id)).returncode == 0
    again = manage("stop_session", str(s.id))
    assert again.returncode == 1 and b"already finished: cancelled" in again.stderr
    unknown = manage("stop_session", str(s.id + 1))
    assert unknown.returncode == 2 and f"Session {s.id + 1} does not exist.".encode() in unknown.stderr
    assert manage("stop_session", "0").returncode == 2
    assert manage("stop_session", "-3").returncode == 2


def test_a_start_refused_for_now_exits_1_not_2(settings):
    settings.SESSIONS_MAX_ACTIVE = 1
    call_command("start_session", "No-op", stdout=io.StringIO())
    assert "sessions are active already" in fails("start_session", "No-op", code=1)
    assert BackgroundSession.objects.count() == 1


def test_a_database_error_exits_1_with_one_line_not_a_traceback(monkeypatch):
    from django.db import OperationalError

    from sessions_app.management.commands import prune_sessions

    def prune(older_than):
        raise OperationalError("disk I/O error\nmore detail")

    monkeypatch.setattr(prune_sessions, "prune", prune)
    assert fails("prune_sessions", "--older-than", "30", code=1) == "Database error: disk I/O error"


# INFO log lines only with -v 2.


def test_commands_print_no_info_log_lines_unless_verbosity_2():
    a, b = (
        BackgroundSession.objects.create(codeunit_id=90007, codeunit_name="No-op", company="CRONUS", status="queued")
        for _ in range(2)
    )
    quiet = manage("stop_session", str(a.id), log_level=None)  # the project's INFO level
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == b""
    assert quiet.stdout.decode() == f"Session {a.id} was cancelled before it started.\n"
    loud = manage("stop_session", str(b.id), "-v", "2", log_level=None)
    assert loud.returncode == 0, loud.stderr
    assert f"INFO sessions_app session={b.id} cancelled".encode() in loud.stderr


def test_the_log_level_is_restored_after_the_command(caplog):
    logger = logging.getLogger("sessions_app")
    before = logger.level
    with caplog.at_level(logging.INFO, logger="sessions_app"):
        call_command("start_session", "No-op", "--debug", stdout=io.StringIO())
        assert logger.level == logging.INFO
        assert not [r for r in caplog.records if r.levelno < logging.WARNING]
        call_command("start_session", "No-op", "--debug", "-v", "2", stdout=io.StringIO())
        assert [r for r in caplog.records if r.levelno == logging.INFO]
    assert logger.level == before


# The demo: ADDR and DEMO_ADMIN_PASSWORD reach it; the admin password is kept unless asked to reset it.


def test_load_demo_keeps_the_admin_password_unless_asked_to_reset_it(monkeypatch):
    from django.contrib.auth.models import User

    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)

    def load(*args) -> str:
        out = io.StringIO()
        call_command("load_demo", "--username", "demo-admin", *args, stdout=out)
        return out.getvalue().splitlines()[-1]

    first = load()
    assert first.startswith("Admin user: demo-admin  password: ")
    password = first.rsplit(" ", 1)[-1]
    user = User.objects.get(username="demo-admin")
    assert user.is_superuser and user.is_staff and user.check_password(password)

    kept = load()
    assert kept.startswith("Admin user: demo-admin  password unchanged") and password not in kept
    assert "DEMO_RESET_PASSWORD=1" in kept and "--reset-password" in kept
    assert User.objects.get(username="demo-admin").check_password(password)

    reset = load("--reset-password")
    new = reset.rsplit(" ", 1)[-1]
    assert new != password and User.objects.get(username="demo-admin").check_password(new)

    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "chosen-pw-123")
    given = load()
    assert given == "Admin user: demo-admin  password: the one in DEMO_ADMIN_PASSWORD"
    assert User.objects.get(username="demo-admin").check_password("chosen-pw-123")
    assert User.objects.count() == 1


def test_make_demo_passes_addr_the_password_and_the_reset_on(tmp_path):
    """``make demo`` with a stand-in Python that records its arguments and DEMO_ADMIN_PASSWORD."""
    log = tmp_path / "calls"
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\necho "$* | $DEMO_ADMIN_PASSWORD" >> {log}\n')
    python.chmod(0o755)
    venv = tmp_path / "venv"

    def make(*variables):
        log.write_text("")
        # -o: the virtualenv counts as set up (nothing is installed); PY is the stand-in.
        result = subprocess.run(
            ["make", "-C", str(BASE_DIR), "-o", f"{venv}/.installed", f"VENV={venv}", f"PY={python}", "demo"]
            + list(variables),
            capture_output=True,
            timeout=60,
            env={
                k: v
                for k, v in os.environ.items()
                if not k.startswith("DEMO_") and k not in ("ADDR", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")
            },
        )
        assert result.returncode == 0, result.stderr
        return result, log.read_text().splitlines()

    _, calls = make()
    assert calls == [
        "manage.py migrate_all | ",
        "manage.py load_demo --jobs | ",
        "manage.py rundemo 127.0.0.1:8000 | ",
    ]
    result, calls = make("ADDR=0.0.0.0:9000", "DEMO_ADMIN_PASSWORD=s3cret-pw", "DEMO_RESET_PASSWORD=1")
    assert calls == [
        "manage.py migrate_all | s3cret-pw",
        "manage.py load_demo --jobs --reset-password | s3cret-pw",
        "manage.py rundemo 0.0.0.0:9000 | s3cret-pw",
    ]
    assert b"s3cret-pw" not in result.stdout + result.stderr  # in the environment, never on an echoed line
    _, calls = make("DEMO_RESET_PASSWORD=0")
    assert calls[1] == "manage.py load_demo --jobs | "


@pytest.mark.parametrize(
    "addrport, url",
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000/"),
        ("0.0.0.0:9000", "http://0.0.0.0:9000/"),
        ("8080", "http://127.0.0.1:8080/"),
    ],
)
def test_rundemo_shows_the_address_it_was_given(addrport, url):
    from demo.management.commands.rundemo import site_url

    assert site_url(addrport) == url


def test_timeouts_and_schedules_are_refused_in_the_users_words_with_the_real_limits():
    from sessions_app.api import prepare_start

    result = manage("start_session", "No-op", "--company", "CRONUS", "--timeout", "100000")
    stderr = result.stderr.decode()
    assert result.returncode == 2 and "timedelta" not in stderr and "86399999913600" not in stderr
    limit = "86400 seconds (24 hours, the SESSIONS_MAX_TIMEOUT setting)"
    assert stderr.strip().splitlines()[-1].endswith(f"argument --timeout: '100000' must be between 1 and {limit}")
    assert (
        "--timeout SECONDS     from 1 to SESSIONS_MAX_TIMEOUT (24 hours unless set)"
        in manage("start_session", "--help").stdout.decode()
    )

    result = manage("job_queue", "add", "No-op", "--company", "CRONUS", "--every", "5")
    stderr = result.stderr.decode()
    assert result.returncode == 2 and "run_on_mondays" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        "CommandError: Invalid job queue entry: --weekdays: A recurring entry needs at least one weekday "
        "(e.g. --weekdays mon-fri, or --cron instead)."
    )

    # The API says it alike, with the limit the settings give.
    with override_settings(SESSIONS_MAX_TIMEOUT=timedelta(hours=48)), pytest.raises(SessionStartError) as e:
        prepare_start("No-op", company="CRONUS", timeout=timedelta(days=3))
    assert str(e.value) == (
        "Timeout 259200 seconds must be between 1 and 172800 seconds (48 hours, the SESSIONS_MAX_TIMEOUT setting)."
    )
