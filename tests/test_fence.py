"""The session log never lies: its status agrees with the company data however a session ends.

Each test runs a real qcluster (SQLite + ORM broker, or PostgreSQL + Redis)
and checks the rule itself: ``succeeded`` exactly when the session's row is
committed, and never a second run because of a wrong ``lost``.
"""

import contextlib
import os
import random
import signal
import time
import uuid

import pytest
from django.db import connections, transaction

from demo.models import Customer, SessionLog
from sessions_app import api
from sessions_app.conf import app_settings
from sessions_app.models import BackgroundSession, SessionEvent, SessionFence
from sessions_app.scheduling import api as scheduling
from tests.conftest import vendor, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, databases="__all__")]

WAIT = 30
ALIAS = {"CRONUS": "company_cronus", "CRONUS UK": "company_cronus_uk"}


def row(session_id) -> BackgroundSession:
    return BackgroundSession.objects.get(pk=session_id)


def finished(session_id, timeout=WAIT) -> BackgroundSession:
    return wait_until(
        lambda: (r := row(session_id)).is_finished and r, timeout=timeout, message=f"session {session_id} to finish"
    )


def committed(log_id, company="CRONUS") -> bool:
    return SessionLog.objects.using(ALIAS[company]).filter(id=log_id).exists()


def assert_log_agrees_with_data(session, log_id, company="CRONUS"):
    assert (session.status == "succeeded") == committed(log_id, company), (session.status, session.error)


def worker_pid(session) -> int:
    return int(session.worker.rpartition(":")[2])


def test_a_worker_killed_after_its_commit_is_recorded_succeeded_and_never_run_again(cluster):
    log_id = uuid.uuid4()
    s = api.start_session("Commit Then Die", company="CRONUS", params={"log_id": str(log_id)})
    done = finished(s.id)
    # The worker died between the company commit and the finish record: the fence says committed.
    assert done.status == "succeeded", (done.status, done.error)
    assert done.result == {"log_id": str(log_id)}
    assert_log_agrees_with_data(done, log_id)
    assert SessionEvent.objects.filter(session_id=s.id, kind="succeeded", message__contains="fence").exists()
    assert not BackgroundSession.objects.filter(rerun_of=s.id).exists(), "a committed session must not run again"
    after = api.wait_session(api.start_session("No-op", company="CRONUS").id, timeout=WAIT)
    assert after.status == "succeeded"


@pytest.mark.parametrize("kind", ["nan", "infinity", "nul", "huge"])
def test_a_result_the_registry_cannot_hold_fails_the_session_and_rolls_it_back(cluster, kind):
    log_id = uuid.uuid4()
    s = api.start_session("Awkward Result", company="CRONUS", params={"log_id": str(log_id), "kind": kind})
    done = finished(s.id)
    assert done.status == "failed" and done.error.startswith("The result"), done.error
    assert not committed(log_id)
    assert not SessionFence.objects.using("company_cronus").filter(session_uuid=s.uuid).exists()


def test_dirty_and_huge_errors_and_log_lines_are_stored_readably_and_bounded(cluster, client, django_user_model):
    ids = {}
    for kind in ("dirty-error", "5mb-error", "log"):
        log_id = uuid.uuid4()
        ids[kind] = (
            api.start_session("Awkward Result", company="CRONUS", params={"log_id": str(log_id), "kind": kind}),
            log_id,
        )
    dirty, big, logged = (finished(ids[k][0].id) for k in ("dirty-error", "5mb-error", "log"))
    assert dirty.status == "failed" and "NUL \\x00 and a lone surrogate \\udcff" in dirty.error
    assert big.status == "failed" and len(big.error) <= 10_000 and "characters not kept" in big.error
    assert len(big.traceback) <= 64_000 and big.traceback.rstrip().endswith("E" * 100)
    assert logged.status == "succeeded"
    [line] = SessionEvent.objects.filter(session_id=logged.id, kind="log").values_list("message", flat=True)
    assert len(line) <= 500 and "characters not kept" in line
    for kind in ("dirty-error", "5mb-error"):
        assert not committed(ids[kind][1])
    admin = django_user_model.objects.create_superuser("fence-admin", password="pw")
    client.force_login(admin)
    for session in (big, logged):
        for url in (f"/sessions/{session.id}/", f"/admin/sessions_app/backgroundsession/{session.id}/change/"):
            page = client.get(url)
            assert page.status_code == 200 and len(page.content) < 1_000_000, (url, len(page.content))


def _refuse_finish(codeunit_name: str):
    """A trigger that makes the registry refuse the finish record of one codeunit's sessions."""
    conn = connections["registry"]
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            cursor.execute(
                "CREATE OR REPLACE FUNCTION refuse_finish() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'the registry refuses this finish'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER refuse_finish BEFORE UPDATE ON sessions_app_backgroundsession FOR EACH ROW "
                f"WHEN (NEW.status = 'succeeded' AND NEW.codeunit_name = '{codeunit_name}') "
                "EXECUTE FUNCTION refuse_finish()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER refuse_finish BEFORE UPDATE ON sessions_app_backgroundsession "
                f"WHEN NEW.status = 'succeeded' AND NEW.codeunit_name = '{codeunit_name}' "
                "BEGIN SELECT RAISE(ABORT, 'the registry refuses this finish'); END"
            )


def _accept_finish():
    with connections["registry"].cursor() as cursor:
        if connections["registry"].vendor == "postgresql":
            cursor.execute("DROP TRIGGER IF EXISTS refuse_finish ON sessions_app_backgroundsession")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS refuse_finish")


def test_a_finish_record_the_registry_refuses_is_recovered_from_the_fence(cluster):
    log_id = uuid.uuid4()
    _refuse_finish("Insert Row")
    try:
        s = api.start_session("Insert Row", company="CRONUS", params={"log_id": str(log_id)})
        # The worker tries for a while, gives up, and leaves the session running without heartbeats.
        wait_until(
            lambda: f"session={s.id}: the registry refused its finish record" in cluster.log_path.read_text(),
            timeout=WAIT,
            message="the worker to give up on the finish record",
        )
        assert row(s.id).status == "running" and committed(log_id)
    finally:
        _accept_finish()
    done = finished(s.id)
    assert done.status == "succeeded" and done.result["log_id"] == str(log_id), (done.status, done.error)
    assert_log_agrees_with_data(done, log_id)


def test_a_worker_stalled_past_the_lost_deadline_is_recorded_truthfully(cluster, settings):
    log_id = uuid.uuid4()
    s = api.start_session("Write And Sleep", company="CRONUS", params={"log_id": str(log_id), "seconds": 2})
    wait_until(lambda: SessionEvent.objects.filter(session_id=s.id, kind="log").exists(), timeout=WAIT)
    pid = worker_pid(row(s.id))
    os.kill(pid, signal.SIGSTOP)  # frozen, watcher thread and all: no heartbeat, no progress
    try:
        # Past the lost deadline, plus the time another worker takes to stand in for a frozen leader.
        interval = settings.SESSIONS_MAINTENANCE_INTERVAL
        stale_after = settings.SESSIONS_LOST_AFTER + 3 * interval + (3 * interval + 1)
        time.sleep(stale_after)  # the stall itself is what is tested: it must outlast the lost deadline
        during = row(s.id).status
    finally:
        os.kill(pid, signal.SIGCONT)
    done = finished(s.id)
    assert_log_agrees_with_data(done, log_id)
    if vendor() == "sqlite":
        # Its open transaction holds the write lock: the fence cannot be voided, so it is alive, not lost.
        assert during == "running" and done.status == "succeeded"
    else:
        # The fence was voided while it slept: lost, and its late commit failed.
        assert during == "lost" and done.status == "lost"
    assert not BackgroundSession.objects.filter(rerun_of=s.id).exists()


@pytest.mark.parametrize("kind", ["savepointless", "bulk_create", "update_or_create", "stubborn"])
def test_stops_at_random_moments_inside_atomic_bookkeeping_leave_every_worker_healthy(cluster, kind):
    rng = random.Random(f"{kind}-{vendor()}")
    for i in range(13 if kind != "stubborn" else 11):  # 50 stops in all
        company = ("CRONUS", "CRONUS UK")[i % 2]
        s = api.start_session("Atomic Loop", company=company, params={"kind": kind})
        wait_until(lambda s=s: SessionEvent.objects.filter(session_id=s.id, kind="log").exists(), timeout=WAIT)
        time.sleep(rng.uniform(0, 0.3))  # a random moment inside the loop
        assert api.stop_session(s.id)
        done = finished(s.id, timeout=10)
        assert done.status == "stopped", (done.status, done.error, done.traceback)
        written = Customer.objects.using(ALIAS[company]).filter(name=f"session {s.id}")
        assert not written.exists(), f"stopped session {s.id} left {written.count()} rows"
    # Every next session on every worker of each company succeeds.
    for company in ALIAS:
        sessions = [api.start_session("Insert Row", company=company) for _ in range(4)]
        for s in sessions:
            done = api.wait_session(s.id, timeout=WAIT)
            assert done.status == "succeeded", (done.error, done.traceback)


def test_on_commit_survives_another_callback_of_the_caller_that_raises(cluster):
    log_id = uuid.uuid4()
    with pytest.raises(ZeroDivisionError):
        with transaction.atomic(using="company_cronus"):
            Customer.objects.using("company_cronus").create(no="ONCOMMIT", name="committed by the caller")
            transaction.on_commit(lambda: 1 / 0, using="company_cronus")  # Django drops the callbacks after it
            s = api.start_session("Insert Row", company="CRONUS", params={"log_id": str(log_id)}, on_commit=True)
    assert Customer.objects.using("company_cronus").filter(no="ONCOMMIT").exists()  # the caller committed
    done = finished(s.id)
    assert done.status == "succeeded" and committed(log_id), (done.status, done.error)


def test_a_callers_key_never_meets_a_schedulers_origin(cluster):
    task_id = scheduling.create_task("Insert Row", company="CRONUS")
    task_session = wait_until(lambda: scheduling.get_task(task_id).session_id, timeout=WAIT)
    origin = row(task_session).origin
    assert origin == f"task:{task_id}:1"
    mine = set()
    for key in (origin, f"task-{task_id}-1", f"task-{task_id}-2", f"task:{task_id}:2"):
        session = api.start_session("No-op", company="CRONUS", key=key)
        assert session.id != task_session and session.origin is None
        mine.add(session.id)
    # A caller's key taken first does not pre-empt a scheduler's next session either.
    assert api.start_session("No-op", company="CRONUS", origin=f"task:{task_id}:2").id not in mine


def test_a_long_queue_is_never_queued_again(cluster, settings):
    # 90 one-second sessions on 2 workers: a backlog of some 45 s, longer than SESSIONS_REQUEUE_AFTER.
    assert settings.SESSIONS_REQUEUE_AFTER.total_seconds() < 40
    sessions = [
        api.start_session("Sleep", company=("CRONUS", "CRONUS UK")[i % 2], params={"seconds": 1}) for i in range(90)
    ]
    for s in sessions:
        assert finished(s.id, timeout=180).status == "succeeded"
    ids = [s.id for s in sessions]
    again = SessionEvent.objects.filter(session_id__in=ids, kind="queued", message__startswith="queued again")
    assert not again.exists(), list(again.values_list("session_id", "message"))
    assert not SessionEvent.objects.filter(session_id__in=ids, kind="refused").exists()


def test_a_stop_reaches_a_worker_that_cannot_run_its_watcher(cluster):
    log_id = uuid.uuid4()
    s = api.start_session("Write And Sleep", company="CRONUS UK", params={"log_id": str(log_id), "seconds": 600})
    wait_until(lambda: SessionEvent.objects.filter(session_id=s.id, kind="log").exists(), timeout=WAIT)
    pid = worker_pid(row(s.id))
    os.kill(pid, signal.SIGSTOP)  # as if one C call held the interpreter: its watcher never runs
    try:
        began = time.monotonic()
        assert api.stop_session(s.id, comment="frozen")
        done = finished(s.id, timeout=WAIT)
        took = time.monotonic() - began
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    print(f"stop of a frozen worker -> {done.status} in {took:.1f}s")
    assert done.status == "stopped" and "frozen" in done.error, (done.status, done.error)
    assert not committed(log_id, "CRONUS UK")
    assert took < app_settings.STOP_GRACE + 5 + 3 * app_settings.MAINTENANCE_INTERVAL + 5
