"""Transaction boundaries, proven against a real qcluster process."""

import uuid

import pytest
from django.contrib.auth.models import User
from django.db import connections, transaction
from django.utils import timezone

from demo.models import Customer, SessionLog
from sessions_app import transport
from sessions_app.api import run_codeunit, start_session, wait_session
from sessions_app.companies import use_company
from sessions_app.models import WAITING_FOR_LOCK, BackgroundSession, SessionEvent
from tests.conftest import push, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, databases="__all__")]

WAIT = 30


def logs(alias, **filters):
    return SessionLog.objects.using(alias).filter(**filters)


def new_log(log_id, result="written by the caller"):
    now = timezone.now()
    return SessionLog.objects.create(
        id=log_id, session_id=0, result=result, start_time=now, stop_time=now, elapsed=now - now
    )


def test_a_session_runs_in_a_worker_process_and_records_start_and_finish(cluster):
    log_id = uuid.uuid4()
    s = start_session("Insert Row", company="CRONUS", params={"log_id": str(log_id)})
    done = wait_session(s.id, timeout=WAIT)
    assert done.status == "succeeded", done.traceback
    assert done.result == {"company": "CRONUS", "log_id": str(log_id)}
    host, pid = done.worker.rsplit(":", 1)
    assert int(pid) not in (0, __import__("os").getpid())
    assert done.started_at >= done.created_at and done.finished_at >= done.started_at
    assert done.elapsed is not None
    assert list(SessionEvent.objects.filter(session_id=s.id).values_list("kind", flat=True)) == [
        "queued",
        "started",
        "succeeded",
    ]
    assert logs("company_cronus", id=log_id, session_id=s.id).exists()


def test_a_failing_codeunit_rolls_back_its_writes_and_leaves_the_caller_untouched(cluster):
    log_id = uuid.uuid4()
    with transaction.atomic(using="company_cronus_uk"):
        with use_company("CRONUS UK"):
            Customer.objects.create(no="CALLER", name="the caller's own row")
        s = start_session("Write Then Fail", company="CRONUS", params={"log_id": str(log_id)})
        done = wait_session(s.id, timeout=WAIT)
    assert done.status == "failed"
    assert done.error == f"ValueError: planned failure after writing {log_id}"
    assert "Traceback (most recent call last)" in done.traceback and "write_then_fail" in done.traceback
    assert not logs("company_cronus", id=log_id).exists()
    assert not Customer.objects.using("company_cronus").filter(no__startswith="FAIL-").exists()
    assert Customer.objects.using("company_cronus_uk").filter(no="CALLER").exists()


def test_the_callers_rollback_does_not_undo_a_session_it_started(cluster):
    log_id = uuid.uuid4()

    class CallerFails(Exception):
        pass

    with pytest.raises(CallerFails):
        with transaction.atomic(), transaction.atomic(using="company_cronus"):
            User.objects.create_user("caller-user")
            s = start_session("Insert Row", company="CRONUS", params={"log_id": str(log_id)})
            # The worker sees the registry row while the caller's transaction is still open.
            done = wait_session(s.id, timeout=WAIT)
            assert done.status == "succeeded", done.traceback
            raise CallerFails
    assert not User.objects.filter(username="caller-user").exists()
    assert BackgroundSession.objects.get(pk=s.id).status == "succeeded"
    assert logs("company_cronus", id=log_id, session_id=s.id).exists()


def test_seed_race_without_on_commit_the_worker_cannot_see_the_callers_uncommitted_row(cluster):
    log_id = uuid.uuid4()
    sqlite = connections["company_cronus"].vendor == "sqlite"
    with transaction.atomic(using="company_cronus"), use_company("CRONUS"):
        new_log(log_id)
        s = start_session("Read Log", company="CRONUS", params={"log_id": str(log_id)})
        if sqlite:
            # SQLite has one writer: the worker's transaction waits for the caller's write lock, as
            # long as the caller holds it, and says so; it never reads the uncommitted row.
            wait_until(lambda: BackgroundSession.objects.get(pk=s.id).progress_message == WAITING_FOR_LOCK)
        else:
            done = wait_session(s.id, timeout=WAIT)
            assert done.status == "failed" and "SessionLog matching query does not exist" in done.error
    if sqlite:  # the caller committed: the session goes on, and reads the row committed now
        done = wait_session(s.id, timeout=WAIT)
        assert done.status == "succeeded" and done.result == "written by the caller", done.error
    assert logs("company_cronus", id=log_id).exists()


def test_seed_race_with_on_commit_the_worker_sees_the_committed_row(cluster):
    log_id = uuid.uuid4()
    with transaction.atomic(using="company_cronus"), use_company("CRONUS"):
        new_log(log_id, result="visible after commit")
        s = start_session("Read Log", company="CRONUS", params={"log_id": str(log_id)}, on_commit=True)
        assert BackgroundSession.objects.get(pk=s.id).status == "pending"
    done = wait_session(s.id, timeout=WAIT)
    assert done.status == "succeeded", done.traceback
    assert done.result == "visible after commit"


def test_seed_race_with_on_commit_and_a_rollback_no_session_runs(cluster):
    log_id = uuid.uuid4()
    with pytest.raises(RuntimeError):
        with transaction.atomic(using="company_cronus"), use_company("CRONUS"):
            new_log(log_id)
            s = start_session("Read Log", company="CRONUS", params={"log_id": str(log_id)}, on_commit=True)
            raise RuntimeError("caller rolls back")
    # Its fence row rolled back with the caller: cancelled, by the caller's process or the cluster's check.
    row = wait_until(lambda: BackgroundSession.objects.filter(pk=s.id, status="cancelled").first(), timeout=WAIT)
    assert row.started_at is None
    # A later session proves the worker is idle and never picked it up.
    probe = wait_session(start_session("No-op", company="CRONUS").id, timeout=WAIT)
    assert probe.status == "succeeded"
    row.refresh_from_db()
    assert row.status == "cancelled" and row.started_at is None and not row.worker


@pytest.mark.parametrize("caller_company", [None, "CRONUS"])
def test_a_session_for_cronus_uk_writes_only_to_that_company(cluster, caller_company):
    log_id = uuid.uuid4()
    with use_company(caller_company):
        s = start_session("Which Company", company="CRONUS UK", params={"log_id": str(log_id)})
    done = wait_session(s.id, timeout=WAIT)
    assert done.status == "succeeded", done.traceback
    assert done.result == "CRONUS UK"
    assert logs("company_cronus_uk", id=log_id, result="CRONUS UK").exists()
    assert not logs("company_cronus", id=log_id).exists()


def test_a_redelivered_task_does_not_run_the_session_twice(cluster):
    log_id = uuid.uuid4()
    s = start_session("Insert Row", company="CRONUS", params={"log_id": str(log_id)})
    push(transport.package(s.id, s.task_id))  # the broker delivers the same task again
    wait_session(s.id, timeout=WAIT)
    wait_until(
        lambda: SessionEvent.objects.filter(session_id=s.id, kind="refused").exists(),
        timeout=WAIT,
        message="the second delivery to be refused",
    )
    assert SessionEvent.objects.filter(session_id=s.id, kind="started").count() == 1
    assert logs("company_cronus", id=log_id).count() == 1


def test_the_works_gives_the_same_outcome_in_the_background_and_inline(cluster):
    outcomes = {}
    for mode in ("background", "inline"):
        with use_company("CRONUS UK"):
            Customer.objects.filter(no="C00010").delete()
            Customer.objects.update_or_create(no="C00010", defaults={"name": "first", "address": ""})
            Customer.objects.update_or_create(no="C00020", defaults={"name": "second", "address": ""})
        params = {"customer_no": "hello", "vendor_no": "world"}
        if mode == "inline":
            s = run_codeunit("The Works", company="CRONUS UK", params=params)
        else:
            s = wait_session(start_session("The Works", company="CRONUS UK", params=params).id, timeout=WAIT)
        assert (s.status, s.mode) == ("succeeded", mode), s.traceback
        log = SessionLog.objects.using("company_cronus_uk").get(id=s.params["log_id"])
        outcomes[mode] = (
            Customer.objects.using("company_cronus_uk").get(no="C00010").address,
            Customer.objects.using("company_cronus_uk").get(no="C00020").address,
            log.session_id == s.id,
            log.elapsed.total_seconds() >= 0.2,
            sorted(s.result),
        )
    assert (
        outcomes["background"]
        == outcomes["inline"]
        == ("HELLO WORLD", "", True, True, ["address", "customer", "elapsed", "log_id"])
    )


def test_a_session_waiting_for_its_companys_sqlite_write_lock_says_so_until_it_gets_it(cluster, client):
    """Another writer holds CRONUS's write lock: the session is running but shows it is waiting, then runs."""
    import sqlite3

    from django.urls import reverse

    from tests.conftest import vendor

    if vendor() != "sqlite":
        pytest.skip("on PostgreSQL a transaction begins without waiting for other writers")
    client.force_login(User.objects.create_superuser("watcher", "", "pw"))
    holder = sqlite3.connect(connections["company_cronus"].settings_dict["NAME"], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        s = start_session("Insert Row", company="CRONUS", params={})
        wait_until(
            lambda: BackgroundSession.objects.get(pk=s.id).status_label == "Waiting for the company database",
            WAIT,
            message="the session says it waits",
        )
        assert BackgroundSession.objects.get(pk=s.id).status == "running"
        assert "Waiting for the company database" in client.get(reverse("sessions_app:dashboard")).content.decode()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    done = wait_session(s.id, timeout=WAIT)
    assert (done.status, done.status_label, done.progress_message) == ("succeeded", "Succeeded", "")
    messages = list(SessionEvent.objects.filter(session_id=s.id, kind="log").values_list("message", flat=True))
    assert messages == ["waiting for the company database: another writer holds its write lock", "got it"]
