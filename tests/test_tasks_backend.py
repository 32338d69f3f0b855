"""Django's task API (``@task``, ``.enqueue()``, ``.using()``, ``get_result``, ``refresh()``) on sessions.

Only Django's public API is used to enqueue and read results; the session
registry and the company databases are read to prove where the work went.
"""

import math
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from demo.models import SessionLog
from sessions_app.api import stop_session, wait_group
from sessions_app.companies import use_company
from sessions_app.exceptions import SessionStartError
from sessions_app.models import BackgroundSession, Status
from sessions_app.scheduling.models import ScheduledTask
from tests.conftest import wait_until
from tests.testapp import tasks

try:
    from django.tasks import TaskResultStatus, default_task_backend, task_backends
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist, TaskResultMismatch
except ImportError:  # Django 5.2: the backport
    from django_tasks import TaskResultStatus, default_task_backend, task_backends
    from django_tasks.exceptions import InvalidTaskError as InvalidTask
    from django_tasks.exceptions import TaskResultDoesNotExist, TaskResultMismatch

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]

WAIT = 30
inline = override_settings(SESSIONS_DEBUG=True)


def logs(alias, log_id):
    return SessionLog.objects.using(alias).filter(id=log_id)


def session_of(result) -> BackgroundSession:
    return BackgroundSession.objects.get(pk=int(result.id))


@inline
def test_an_enqueued_task_is_a_session_and_its_result_reports_the_outcome():
    with use_company("CRONUS"):
        result = tasks.add.enqueue(2, 3)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert (result.args, result.kwargs, result.backend) == ([2, 3], {}, "default")
    s = session_of(result)
    assert (s.codeunit_name, s.company, s.status, s.result) == ("Django Task", "CRONUS", "succeeded", 5)
    assert s.params["task"] == "tests.testapp.tasks.add"
    again = tasks.add.get_result(result.id)
    assert (again.id, again.status, again.return_value) == (result.id, TaskResultStatus.SUCCESSFUL, 5)
    assert default_task_backend.get_result(result.id).return_value == 5


@inline
def test_the_task_runs_in_the_current_company_or_the_one_its_backend_names():
    log_id = str(uuid.uuid4())
    with use_company("CRONUS UK"):
        result = tasks.insert_log.enqueue(log_id)
    assert result.return_value["company"] == "CRONUS UK"
    assert logs("company_cronus_uk", log_id).exists() and not logs("company_cronus", log_id).exists()
    with use_company("CRONUS"):
        assert tasks.where_am_i.enqueue().return_value == "CRONUS UK"  # @task(backend="cronus_uk")
        assert tasks.add.using(backend="cronus_uk").enqueue(1, 1).return_value == 2
    assert BackgroundSession.objects.filter(company="CRONUS UK").count() == 3


@inline
def test_without_a_company_the_enqueue_is_refused_and_nothing_is_written():
    with pytest.raises(SessionStartError) as e:
        tasks.add.enqueue(1, 2)
    assert e.value.reason == "unknown_company"
    assert not BackgroundSession.objects.exists()


@inline
@pytest.mark.parametrize(
    "args, kwargs",
    [((timezone.now(),), {}), ((math.nan,), {}), ((), {"log_id": object()}), (("a\x00b",), {})],
    ids=["datetime", "nan", "object", "nul"],
)
def test_arguments_must_be_strict_json_at_enqueue_time(args, kwargs):
    with use_company("CRONUS"), pytest.raises((SessionStartError, TypeError, ValueError)):
        tasks.insert_log.enqueue(*args, **kwargs)
    assert not BackgroundSession.objects.exists()


@inline
def test_a_failing_task_rolls_back_and_reports_its_exception_with_traceback():
    log_id = str(uuid.uuid4())
    with use_company("CRONUS"):
        result = tasks.insert_then_fail.enqueue(log_id)
    assert result.status == TaskResultStatus.FAILED
    with pytest.raises(ValueError):
        result.return_value  # noqa: B018 - Django's API raises for a failed task
    [error] = result.errors
    assert error.exception_class is ValueError
    assert "planned failure" in error.traceback and "insert_then_fail" in error.traceback
    assert not logs("company_cronus", log_id).exists()


@inline
def test_a_task_that_takes_context_receives_its_attempt_and_result_id():
    with use_company("CRONUS"):
        result = tasks.which_attempt.enqueue(note="hi")
    assert result.return_value == {"attempt": 1, "id": result.id, "note": "hi"}


def test_unknown_ids_and_foreign_sessions_are_not_task_results():
    from sessions_app.api import start_session

    plain = start_session("Insert Row", company="CRONUS", params={}, debug=True)
    for bogus in ("999999", "abc", "", str(plain.id), "task:999", "task:x"):
        with pytest.raises(TaskResultDoesNotExist):
            default_task_backend.get_result(bogus)
    with use_company("CRONUS"), inline:
        result = tasks.add.enqueue(1, 1)
    with pytest.raises(TaskResultMismatch):
        tasks.which_attempt.get_result(result.id)


def test_a_worker_runs_only_declared_tasks_of_installed_apps():
    """A tampered registry row naming another function fails; the function is never imported or called."""
    from sessions_app.api import start_session

    for path in ("os.system", "tests.testapp.tasks.not_a_task", "tests.testapp.codeunits.insert_row", "nowhere.x"):
        s = start_session("Django Task", company="CRONUS", params={"task": path, "args": ["echo owned"]}, debug=True)
        assert s.status == Status.FAILED
        assert "is not a @task function of a sessions backend in an installed app" in s.error


def test_settings_the_backend_refuses_what_it_cannot_do():
    with pytest.raises(InvalidTask):
        tasks.add.using(priority=5)
    with pytest.raises(InvalidTask):
        tasks.add.using(queue_name="elsewhere")


def test_a_re_run_of_a_lost_attempt_is_the_same_task_result():
    """Attempts are the session and the engine's re-run of it: the first lost (its writes never committed)."""
    params = {"task": "tests.testapp.tasks.add", "args": [1, 2], "kwargs": {}}
    first = BackgroundSession.objects.create(
        codeunit_id=2_000_000_100, codeunit_name="Django Task", company="CRONUS", params=params,
        status=Status.LOST, worker="host:1", started_at=timezone.now(), finished_at=timezone.now(),
    )  # fmt: skip
    second = BackgroundSession.objects.create(
        codeunit_id=2_000_000_100, codeunit_name="Django Task", company="CRONUS", params=params,
        status=Status.SUCCEEDED, worker="host:2", result=3, rerun_of=first.id, origin=f"rerun:{first.id}",
        started_at=timezone.now(), finished_at=timezone.now(),
    )  # fmt: skip
    result = tasks.add.get_result(str(first.id))
    assert (result.status, result.return_value, result.attempts) == (TaskResultStatus.SUCCESSFUL, 3, 2)
    assert result.worker_ids == ["host:1", "host:2"]
    assert [e.exception_class_path for e in result.errors] == ["sessions_app.exceptions.SessionLost"]
    assert second.id != first.id


def test_run_after_becomes_a_scheduled_task():
    later = timezone.now() + timedelta(hours=1)
    with use_company("CRONUS"):
        result = tasks.add.using(run_after=later).enqueue(4, 5)
    assert result.id.startswith("task:") and result.status == TaskResultStatus.READY
    scheduled = ScheduledTask.objects.get(pk=int(result.id.split(":")[1]))
    assert (scheduled.codeunit_name, scheduled.company, scheduled.not_before) == ("Django Task", "CRONUS", later)
    assert tasks.add.get_result(result.id).args == [4, 5]
    assert not BackgroundSession.objects.exists()


# --- in a real worker -------------------------------------------------------


@pytest.mark.integration
def test_in_a_worker_the_result_follows_the_session_until_it_succeeds(cluster):
    log_id = str(uuid.uuid4())
    with use_company("CRONUS"):
        result = tasks.insert_log.enqueue(log_id)
    assert result.status == TaskResultStatus.READY and not result.is_finished
    wait_until(lambda: (result.refresh(), result.is_finished)[1], WAIT, message="task finished")
    assert result.status == TaskResultStatus.SUCCESSFUL, result.errors
    s = session_of(result)
    assert result.worker_ids == [s.worker] and result.attempts == 1
    assert result.return_value == {"company": "CRONUS", "session": s.id}
    assert result.started_at == s.started_at and result.finished_at == s.finished_at
    assert logs("company_cronus", log_id).exists()


def test_a_group_of_tasks_refuses_a_member_with_run_after_and_writes_nothing():
    later = tasks.add.using(run_after=timezone.now() + timedelta(hours=1))
    with use_company("CRONUS"), pytest.raises(InvalidTask, match="run_after: a group's tasks cannot be deferred"):
        default_task_backend.enqueue_group([(tasks.add, (1, 2)), (later, (3, 4))])
    with use_company("CRONUS"), pytest.raises(SessionStartError, match=r"members\[1\]"):
        default_task_backend.enqueue_group([(tasks.add, (1, 2)), (tasks.add, (object(),))])
    assert not BackgroundSession.objects.exists()


@pytest.mark.integration
def test_a_group_of_tasks_runs_its_completion_task_once_with_their_outcomes(cluster):
    calls = [(tasks.add, (1, 2)), (tasks.add, (2, 3)), (tasks.add, (), {"a": 3, "b": 4})]
    with use_company("CRONUS"):
        enqueued = default_task_backend.enqueue_group(calls, then=tasks.group_results, name="sums")
    assert [r.status for r in enqueued.results] == [TaskResultStatus.READY] * 3
    assert [r.args for r in enqueued.results] == [[1, 2], [2, 3], []]
    group = wait_group(enqueued.group.id, timeout=WAIT)
    assert (group.status, group.size) == ("succeeded", 3)
    completions = BackgroundSession.objects.filter(origin=f"group:{group.id}:then")
    assert [(c.id, c.status, c.result) for c in completions] == [(group.completion_id, "succeeded", [3, 5, 7])]
    for result, value in zip(enqueued.results, [3, 5, 7], strict=True):
        result.refresh()
        assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, value)


@pytest.mark.integration
def test_enqueued_in_a_transaction_it_waits_for_the_commit_and_is_cancelled_by_a_rollback(cluster):
    kept, dropped = str(uuid.uuid4()), str(uuid.uuid4())
    with use_company("CRONUS"):
        with transaction.atomic(using="company_cronus"):
            committed = tasks.insert_log.enqueue(kept)
        with pytest.raises(RuntimeError), transaction.atomic(using="company_cronus"):
            rolled_back = tasks.insert_log.enqueue(dropped)
            raise RuntimeError("the caller rolls back")
    wait_until(lambda: (committed.refresh(), committed.is_finished)[1], WAIT, message="committed task finished")
    wait_until(lambda: (rolled_back.refresh(), rolled_back.is_finished)[1], WAIT, message="dropped task settled")
    assert committed.status == TaskResultStatus.SUCCESSFUL
    assert rolled_back.status == TaskResultStatus.FAILED
    assert session_of(rolled_back).status == Status.CANCELLED
    assert logs("company_cronus", kept).exists() and not logs("company_cronus", dropped).exists()


@pytest.mark.integration
def test_a_running_task_can_be_stopped_and_its_writes_roll_back(cluster):
    log_id = str(uuid.uuid4())
    with use_company("CRONUS"):
        result = tasks.sleep_then_insert.enqueue(log_id, 60)
    wait_until(lambda: (result.refresh(), result.status == TaskResultStatus.RUNNING)[1], WAIT, message="running")
    wait_until(lambda: session_of(result).progress_total == 60, WAIT, message="progress reported")
    assert stop_session(int(result.id), comment="enough")
    wait_until(lambda: (result.refresh(), result.is_finished)[1], WAIT, message="stopped")
    assert result.status == TaskResultStatus.FAILED
    assert [e.exception_class_path for e in result.errors] == ["sessions_app.exceptions.SessionStopped"]
    assert session_of(result).status == Status.STOPPED
    assert not logs("company_cronus", log_id).exists()


@pytest.mark.integration
def test_a_task_shows_in_the_session_admin_and_a_stop_there_is_what_its_result_reports(cluster):
    """The whole way a user sees it: Django's API enqueues, the admin lists and stops, the result says so."""
    from django.contrib.auth.models import User
    from django.test import Client
    from django.urls import reverse

    admin_user = User.objects.create_superuser("boss", password="pw")
    client = Client()
    client.force_login(admin_user)
    log_id = str(uuid.uuid4())
    result = tasks.sleep_then_insert.using(backend="cronus_uk").enqueue(log_id, 60)
    wait_until(lambda: (result.refresh(), result.status == TaskResultStatus.RUNNING)[1], WAIT, message="running")

    listing = client.get(reverse("admin:sessions_app_backgroundsession_changelist"), {"q": "Django Task"})
    change_url = reverse("admin:sessions_app_backgroundsession_change", args=[int(result.id)])
    assert listing.status_code == 200 and f'href="{change_url}?' in listing.content.decode()
    page = client.get(change_url).content.decode()
    stop_url = reverse("admin:sessions_app_backgroundsession_stop", args=[int(result.id)])
    assert f'action="{stop_url}"' in page and "CRONUS UK" in page

    assert client.post(stop_url).status_code == 302
    wait_until(lambda: (result.refresh(), result.is_finished)[1], WAIT, message="stopped")
    assert result.status == TaskResultStatus.FAILED
    assert [e.exception_class_path for e in result.errors] == ["sessions_app.exceptions.SessionStopped"]
    assert task_backends["cronus_uk"].get_result(result.id).status == TaskResultStatus.FAILED
    s = session_of(result)
    assert (s.status, s.company, s.stopped_by) == (Status.STOPPED, "CRONUS UK", "boss")
    assert not logs("company_cronus_uk", log_id).exists()


@pytest.mark.integration
def test_run_after_starts_the_task_when_it_is_due(cluster):
    with use_company("CRONUS"):
        result = tasks.add.using(run_after=timezone.now() + timedelta(seconds=1)).enqueue(20, 22)
    wait_until(lambda: (result.refresh(), result.is_finished)[1], WAIT, message="deferred task finished")
    assert (result.status, result.return_value, result.attempts) == (TaskResultStatus.SUCCESSFUL, 42, 1)
    assert task_backends["default"].get_result(result.id).return_value == 42


@inline
def test_the_backend_sends_enqueued_started_and_finished_as_djangos_own_backends_do():
    """``task_finished`` comes once the attempt's outcome is recorded: SUCCESSFUL only once its work committed."""
    try:
        from django.tasks.signals import task_enqueued, task_finished, task_started
    except ImportError:
        from django_tasks.signals import task_enqueued, task_finished, task_started

    seen = []

    def receiver(signal_name):
        def receive(sender, task_result, **kwargs):
            seen.append((signal_name, task_result.id, task_result.status))

        return receive

    receivers = {name: receiver(name) for name in ("enqueued", "started", "finished")}
    for name, signal in (("enqueued", task_enqueued), ("started", task_started), ("finished", task_finished)):
        signal.connect(receivers[name])
    try:
        with use_company("CRONUS"):
            ok = tasks.add.enqueue(2, 3)
            failed = tasks.insert_then_fail.enqueue(str(uuid.uuid4()))
    finally:
        for name, signal in (("enqueued", task_enqueued), ("started", task_started), ("finished", task_finished)):
            signal.disconnect(receivers[name])
    for result, outcome in ((ok, TaskResultStatus.SUCCESSFUL), (failed, TaskResultStatus.FAILED)):
        mine = sorted((name, status) for name, result_id, status in seen if result_id == result.id)
        assert mine == [("enqueued", outcome), ("finished", outcome), ("started", TaskResultStatus.RUNNING)]


@inline
def test_the_readme_shows_how_to_enqueue_outside_a_request_with_the_refusal_it_avoids():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    with pytest.raises(SessionStartError) as e:
        tasks.add.enqueue(1, 2)  # a shell: no request chose a company
    assert f'"{e.value}"' in readme
    assert 'with use_company("CRONUS"):\n    recalculate.enqueue("C1000")' in readme
    with use_company("CRONUS"):  # as README shows it
        assert tasks.add.enqueue(1, 2).return_value == 3
