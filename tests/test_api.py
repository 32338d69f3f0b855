"""start_session and friends without a worker: validation, registry rows, commit hooks, inline runs."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.db import transaction
from django.test import override_settings
from django_q.signing import SignedPackage

from demo.models import Customer, SessionLog
from sessions_app import transport
from sessions_app.api import (
    get_session,
    is_session_active,
    run_codeunit,
    start_session,
    try_start_session,
    wait_session,
)
from sessions_app.companies import use_company
from sessions_app.exceptions import SessionNotFound, SessionStartError, SessionWaitTimeout
from sessions_app.models import BackgroundSession, CompanyAccess, SessionEvent
from tests.conftest import queued_tasks, wait_until
from tests.testapp.codeunits import insert_row

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]


def nothing_written():
    return not BackgroundSession.objects.exists() and not SessionEvent.objects.exists() and queued_tasks() == 0


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        ({"codeunit": "Teh Works"}, "unknown_codeunit"),
        ({"codeunit": 99999}, "unknown_codeunit"),
        ({"codeunit": "The Works", "company": "CRONUS US"}, "unknown_company"),
        ({"codeunit": "The Works", "company": None}, "unknown_company"),
        ({"codeunit": "The Works", "params": {"customer_no": "x" * 21}}, "invalid_params"),
        ({"codeunit": "The Works", "params": {"log_id": "not-a-guid"}}, "invalid_params"),
        ({"codeunit": "The Works", "params": {"colour": "blue"}}, "invalid_params"),
        ({"codeunit": "The Works", "params": "customer_no=x"}, "invalid_params"),
        ({"codeunit": "The Works", "timeout": 0}, "invalid_params"),
        ({"codeunit": "The Works", "timeout": timedelta(days=30)}, "invalid_params"),
        ({"codeunit": "The Works", "key": ""}, "invalid_params"),
    ],
)
def test_a_start_that_cannot_happen_raises_with_a_reason_and_writes_nothing(kwargs, reason):
    kwargs.setdefault("company", "CRONUS")
    codeunit = kwargs.pop("codeunit")
    with pytest.raises(SessionStartError) as e:
        start_session(codeunit, **kwargs)
    assert e.value.reason == reason
    assert try_start_session(codeunit, **kwargs) is None
    assert nothing_written()


def test_invalid_params_carry_field_errors():
    with pytest.raises(SessionStartError) as e:
        start_session("The Works", company="CRONUS", params={"customer_no": "x" * 21, "log_id": "nope"})
    assert set(e.value.errors) == {"customer_no", "log_id"}
    assert "at most 20 characters" in e.value.errors["customer_no"][0]


def test_start_writes_a_queued_row_and_one_task_carrying_only_the_id():
    log_id = uuid.uuid4()
    s = start_session("Insert Row", company="CRONUS UK", params={"log_id": str(log_id)}, timeout=300)
    row = BackgroundSession.objects.get(pk=s.id)
    assert (row.status, row.mode, row.company, row.codeunit_id, row.codeunit_name) == (
        "queued",
        "background",
        "CRONUS UK",
        90001,
        "Insert Row",
    )
    assert row.params == {"log_id": str(log_id), "result": ""}
    assert row.timeout == timedelta(seconds=300) and row.task_id
    assert is_session_active(s.id)
    assert queued_tasks() == 1
    if transport.uses_orm_broker():
        [(ack_id, payload)] = transport.broker().dequeue()  # the row is the queue entry: taken, no ack needed
        assert ack_id is None and BackgroundSession.objects.get(pk=s.id).fetched_by == transport.cluster_name()
        task = SignedPackage.loads(payload)
        assert task["func"] == "sessions_app.runner.execute"
        assert task["args"] == (s.id,) and task["kwargs"] == {}
        assert task["timeout"] == -1 and task["id"] == row.task_id  # the watcher enforces it, never SIGALRM


def test_the_function_itself_and_the_current_company_can_be_used():
    with use_company("CRONUS UK"):
        s = start_session(insert_row)
    assert (s.codeunit_id, s.company) == (90001, "CRONUS UK")


def test_default_timeout_is_twelve_hours():
    s = start_session("No-op", company="CRONUS")
    assert s.timeout == timedelta(hours=12)


def test_user_is_recorded_and_needs_the_start_permission():
    alice = User.objects.create_user("alice")
    with pytest.raises(SessionStartError) as e:
        start_session("No-op", company="CRONUS", user=alice)
    assert e.value.reason == "permission_denied" and "alice" in str(e.value)
    assert nothing_written()
    alice.user_permissions.add(Permission.objects.get(codename="start_session"))
    alice = User.objects.get(pk=alice.pk)
    with pytest.raises(SessionStartError) as e:
        start_session("No-op", company="CRONUS", user=alice)
    assert e.value.reason == "permission_denied" and "may not work in company 'CRONUS'" in str(e.value)
    CompanyAccess.objects.create(user=alice, company="CRONUS")
    alice = User.objects.get(pk=alice.pk)
    s = start_session("No-op", company="CRONUS", user=alice)
    assert s.user == alice and BackgroundSession.objects.get(pk=s.id).username == "alice"


def test_session_row_survives_the_callers_rollback_on_every_alias():
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback):
        with (
            transaction.atomic(),
            transaction.atomic(using="company_cronus"),
            transaction.atomic(using="company_cronus_uk"),
        ):
            User.objects.create_user("rolled-back")
            with use_company("CRONUS"):
                Customer.objects.create(no="GONE", name="rolled back")
            s = start_session("No-op", company="CRONUS")
            raise Rollback
    assert BackgroundSession.objects.get(pk=s.id).status == "queued"
    assert queued_tasks() == 1
    assert not User.objects.filter(username="rolled-back").exists()


def test_on_commit_waits_for_every_open_transaction_then_queues():
    with transaction.atomic():
        with transaction.atomic(using="company_cronus"):
            s = start_session("No-op", company="CRONUS", on_commit=True)
            assert BackgroundSession.objects.get(pk=s.id).status == "pending"
            assert queued_tasks() == 0
        assert BackgroundSession.objects.get(pk=s.id).status == "pending"  # default still open
    assert BackgroundSession.objects.get(pk=s.id).status == "queued"
    assert queued_tasks() == 1
    assert list(SessionEvent.objects.filter(session_id=s.id).values_list("kind", flat=True)) == ["created", "queued"]


@pytest.mark.parametrize("alias", ["default", "company_cronus", "registry"])
def test_on_commit_in_manual_transaction_management_is_refused_and_writes_nothing(alias):
    """``set_autocommit(False)`` has no commit to wait for: refused as Django's own ``on_commit`` refuses it."""
    from django.db import connections
    from django.db.transaction import TransactionManagementError

    transaction.set_autocommit(False, using=alias)
    try:
        with pytest.raises((TransactionManagementError, SessionStartError)) as e:
            start_session("No-op", company="CRONUS", on_commit=True)
        assert "set_autocommit(False)" in str(e.value) or "transaction on the registry alias" in str(e.value)
        connections[alias].rollback()
    finally:
        transaction.set_autocommit(True, using=alias)
    assert not BackgroundSession.objects.exists() and queued_tasks() == 0
    assert start_session("No-op", company="CRONUS", on_commit=True).status == "queued"


def test_on_commit_with_no_open_transaction_queues_at_once():
    s = start_session("No-op", company="CRONUS", on_commit=True)
    assert s.status == "queued" and queued_tasks() == 1


def test_on_commit_rollback_cancels_and_enqueues_nothing():
    from sessions_app import pending

    with pytest.raises(ZeroDivisionError):
        with transaction.atomic(using="company_cronus"):
            s = start_session("No-op", company="CRONUS", on_commit=True)
            1 / 0
    assert BackgroundSession.objects.get(pk=s.id).status == "pending"  # Django dropped its callback, silently
    assert pending.settle_ended() == [s.id]  # the explicit trigger: a request's end, the next start, the cluster
    row = BackgroundSession.objects.get(pk=s.id)
    assert row.status == "cancelled" and row.finished_at is not None
    assert queued_tasks() == 0
    message = "the caller rolled back on company_cronus"
    assert SessionEvent.objects.filter(session_id=s.id, kind="cancelled", message=message).exists()


def test_on_commit_inside_a_savepoint_that_rolls_back_cancels():
    with transaction.atomic():
        try:
            with transaction.atomic():
                s = start_session("No-op", company="CRONUS", on_commit=True)
                raise KeyError
        except KeyError:
            pass
        kept = start_session("No-op", company="CRONUS", on_commit=True)
    assert BackgroundSession.objects.get(pk=kept.id).status == "queued"  # its callback ran at the commit
    start_session("No-op", company="CRONUS", debug=True)  # the next start of this thread settles the other
    assert BackgroundSession.objects.get(pk=s.id).status == "cancelled"
    assert queued_tasks() == 1


def test_a_request_that_rolls_back_settles_its_on_commit_starts_as_it_ends():
    from django.core.signals import request_finished

    with pytest.raises(ZeroDivisionError):
        with transaction.atomic():
            s = start_session("No-op", company="CRONUS", on_commit=True)
            1 / 0
    assert BackgroundSession.objects.get(pk=s.id).status == "pending"
    request_finished.send(sender=None)
    assert BackgroundSession.objects.get(pk=s.id).status == "cancelled"


def test_a_pending_start_whose_caller_died_is_settled_by_the_cluster_from_the_fence():
    """The caller's thread is gone: nothing of it settles the session, the cluster's check does."""
    from django.utils import timezone

    from sessions_app import maintenance, pending

    with pytest.raises(ZeroDivisionError):
        with transaction.atomic(using="company_cronus"):
            transaction.on_commit(lambda: 1 / 0, using="company_cronus")  # Django drops the callbacks after it
            s = start_session("No-op", company="CRONUS", on_commit=True)
    pending._watches().clear()  # and its thread never looks again, as a caller that died
    assert BackgroundSession.objects.get(pk=s.id).status == "pending"
    BackgroundSession.objects.filter(pk=s.id).update(created_at=timezone.now() - timezone.timedelta(seconds=5))
    assert maintenance.resolve_pending() == [s.id]
    assert BackgroundSession.objects.get(pk=s.id).status == "queued"  # the fence says the caller committed


def test_a_used_key_returns_the_same_session_and_enqueues_nothing_more():
    a = start_session("No-op", company="CRONUS", key="order-42")
    b = start_session("No-op", company="CRONUS", key="order-42")
    assert a.id == b.id and queued_tasks() == 1
    assert BackgroundSession.objects.count() == 1


def test_inline_debug_run_uses_the_same_runner_row_and_transaction():
    log_id = uuid.uuid4()
    s = start_session("Insert Row", company="CRONUS", params={"log_id": str(log_id)}, debug=True)
    assert (s.status, s.mode) == ("succeeded", "inline")
    assert s.result == {"company": "CRONUS", "log_id": str(log_id)}
    assert queued_tasks() == 0
    assert SessionLog.objects.using("company_cronus").filter(id=log_id, session_id=s.id).exists()
    kinds = list(SessionEvent.objects.filter(session_id=s.id).values_list("kind", flat=True))
    assert kinds == ["created", "started", "succeeded"]


def test_an_inline_run_keeps_its_timeout_and_ends_as_timed_out_without_a_traceback(caplog):
    log_id = uuid.uuid4()
    s = start_session("Cooperative Loop", company="CRONUS", params={"log_id": str(log_id), "seconds": 60}, timeout=1,
                      debug=True)  # fmt: skip
    assert (s.mode, s.status, s.traceback) == ("inline", "timed_out", "")
    assert "timed out" in s.error.lower()
    assert s.finished_at - s.started_at < timedelta(seconds=10)
    assert not SessionLog.objects.using("company_cronus").filter(id=log_id).exists()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_an_inline_run_stopped_by_a_user_says_who_and_why_without_a_traceback(caplog):
    """The stop comes from another thread (the admin, a command) while the debugger's thread runs the codeunit."""
    import threading

    from sessions_app.api import stop_session

    stopper = User.objects.create_superuser("stopper", "", "pw")
    log_id = uuid.uuid4()

    def stop_when_running():
        wait_until(lambda: BackgroundSession.objects.filter(status="running").exists(), 30)
        stopped.append(stop_session(BackgroundSession.objects.get().id, comment="enough debugging", user=stopper))

    stopped = []
    thread = threading.Thread(target=stop_when_running)
    thread.start()
    s = start_session("Cooperative Loop", company="CRONUS", params={"log_id": str(log_id), "seconds": 60}, debug=True)
    thread.join(30)
    assert stopped == [True]
    assert (s.mode, s.status, s.traceback) == ("inline", "stopped", "")
    assert (s.stopped_by, s.stop_comment) == ("stopper", "enough debugging")
    assert "stopper" in s.error and "enough debugging" in s.error
    assert not SessionLog.objects.using("company_cronus").filter(id=log_id).exists()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


@override_settings(SESSIONS_DEBUG=True)
def test_the_debug_setting_runs_sessions_inline_unless_the_call_says_otherwise():
    assert start_session("No-op", company="CRONUS").mode == "inline"
    assert start_session("No-op", company="CRONUS", debug=False).status == "queued"


def test_run_codeunit_raises_the_codeunits_error_and_records_it():
    log_id = uuid.uuid4()
    with pytest.raises(ValueError, match="planned failure"):
        run_codeunit("Write Then Fail", company="CRONUS", params={"log_id": str(log_id)})
    s = BackgroundSession.objects.get()
    assert s.status == "failed" and s.mode == "inline"
    assert s.error.startswith("ValueError: planned failure")
    assert "write_then_fail" in s.traceback and "Traceback" in s.traceback
    assert not SessionLog.objects.using("company_cronus").filter(id=log_id).exists()
    assert not Customer.objects.using("company_cronus").exists()


def test_run_codeunit_without_raising_returns_the_failed_session():
    s = run_codeunit("Write Then Fail", company="CRONUS", raise_errors=False)
    assert s.status == "failed" and "planned failure" in s.error


def test_a_result_that_is_not_json_fails_the_session_and_rolls_back():
    s = run_codeunit("Bad Result", company="CRONUS", raise_errors=False)
    assert s.status == "failed" and "not JSON serializable" in s.error
    assert not SessionLog.objects.using("company_cronus").exists()


def test_unknown_sessions():
    with pytest.raises(SessionNotFound):
        get_session(123456)
    with pytest.raises(SessionNotFound):
        get_session("abc")
    assert is_session_active(123456) is False


def test_wait_session_times_out_with_the_status():
    s = start_session("No-op", company="CRONUS")
    with pytest.raises(SessionWaitTimeout, match=f"Session {s.id} is still queued"):
        wait_session(s.id, timeout=0.2)


def test_a_start_inside_the_callers_registry_transaction_is_refused_and_writes_nothing():
    with transaction.atomic(using="registry"):
        with pytest.raises(SessionStartError) as raised:
            start_session("No-op", company="CRONUS")
        assert raised.value.reason == "unavailable" and "registry alias 'registry'" in str(raised.value)
        with pytest.raises(SessionStartError):
            run_codeunit("No-op", company="CRONUS")
    assert not BackgroundSession.objects.exists() and queued_tasks() == 0
    # Outside it, the same start works and is committed at once.
    assert start_session("No-op", company="CRONUS").status == "queued"


def test_on_commit_writes_its_fence_row_in_the_callers_transaction():
    from sessions_app.models import SessionFence

    with transaction.atomic(using="company_cronus"):
        s = start_session("No-op", company="CRONUS", on_commit=True)
        assert BackgroundSession.objects.get(pk=s.id).awaits == ["company_cronus"]
    fences = SessionFence.objects.using("company_cronus").filter(session_uuid=s.uuid)
    assert list(fences.values_list("stage", "outcome")) == [("start", "committed")]
    assert BackgroundSession.objects.get(pk=s.id).status == "queued"


def test_a_re_run_links_to_the_session_it_runs_again():
    from sessions_app.api import rerun_session

    first = start_session("No-op", company="CRONUS", debug=True)
    again = rerun_session(first.id)
    inline = rerun_session(again.id, debug=True)
    assert (again.rerun_of, inline.rerun_of) == (first.id, again.id)
    assert BackgroundSession.objects.get(pk=again.id).rerun_of == first.id


def test_a_push_that_fails_after_the_callers_commit_leaves_no_queued_record_and_fails_the_session(monkeypatch):
    """The status change and its push are one registry commit: a failed push leaves no 'queued' behind."""
    from sessions_app import transport as queue_module

    def down(session):
        raise ConnectionError("broker down")

    monkeypatch.setattr(queue_module, "publish", down)
    with transaction.atomic(using="company_cronus"):
        s = start_session("No-op", company="CRONUS", on_commit=True)
    done = BackgroundSession.objects.get(pk=s.id)
    assert (done.status, done.error) == ("failed", "Could not be queued: broker down")
    assert list(SessionEvent.objects.filter(session_id=s.id).values_list("kind", flat=True)) == ["created", "failed"]
    assert queued_tasks() == 0


FIRST_START = """
import django
django.setup()
from django.db import transaction
from demo.models import Customer
from sessions_app.api import start_session
from sessions_app.companies import use_company
with transaction.atomic(using="company_cronus"), use_company("CRONUS"):
    Customer.objects.create(no="FIRST-START", name="written before the first start of this process")
    session = start_session("No-op", company="CRONUS")
print(session.id, Customer.objects.using("company_cronus").filter(no="FIRST-START").exists())
"""


def test_the_first_start_of_a_process_keeps_the_callers_open_transaction():
    """The first start makes django-q2's broker, whose ORM flavour closed every connection inside an atomic block."""
    import os
    import subprocess
    import sys

    from tests.conftest import BASE_DIR

    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", SESSIONS_LOG_LEVEL="WARNING")
    result = subprocess.run(
        [sys.executable, "-c", FIRST_START], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    session_id, kept = result.stdout.split()
    assert kept == "True" and Customer.objects.using("company_cronus").filter(no="FIRST-START").exists()
    assert BackgroundSession.objects.filter(pk=int(session_id), status="queued").exists()


def test_a_re_run_keeps_every_value_the_original_was_given_and_makes_generated_ones_anew():
    """A @task's args and kwargs (Json fields with a default factory) were dropped, so its re-run always failed."""
    from sessions_app.api import rerun_session

    given_guid = str(uuid.uuid4())
    task_call = {"task": "tests.testapp.tasks.add", "args": [2, 3], "kwargs": {}}
    call = start_session("Django Task", company="CRONUS", params=task_call)
    assert call.generated == []  # every value given; none made by a default factory
    again = rerun_session(call.id)
    assert again.params["args"] == [2, 3] and again.params["task"] == "tests.testapp.tasks.add"

    with_guid = start_session("Insert Row", company="CRONUS", params={"log_id": given_guid, "result": "r"})
    assert rerun_session(with_guid.id).params["log_id"] == given_guid  # given: kept
    made = start_session("Insert Row", company="CRONUS", params={"result": "r"})
    assert made.generated == ["log_id"]
    renewed = rerun_session(made.id)
    assert renewed.params["log_id"] != made.params["log_id"] and renewed.params["result"] == "r"
    # A session from before the generated values were recorded: every value of a default factory is made anew.
    BackgroundSession.objects.filter(pk=with_guid.id).update(generated=None)
    assert rerun_session(with_guid.id).params["log_id"] != given_guid
