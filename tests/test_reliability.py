"""Faults: brokers and databases that are down, killed workers and clusters, SIGTERM."""

import time
import uuid

import pytest
from django.db import connections
from django.utils import timezone

from demo.models import SessionLog
from sessions_app import transport
from sessions_app.api import start_session, try_start_session, wait_session
from sessions_app.exceptions import SessionStartError
from sessions_app.models import BackgroundSession, SessionEvent
from tests.conftest import queued_tasks, wait_until

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]

WAIT = 60


def fetched_some() -> bool:
    """The cluster holds tasks beyond its two running ones: queued sessions it has taken from the broker."""
    return BackgroundSession.objects.filter(status="queued").exclude(fetched_by="").exists()


def nothing_left_behind():
    return not BackgroundSession.objects.exists() and not SessionEvent.objects.exists() and queued_tasks() == 0


def test_a_broker_that_is_down_gives_unavailable_in_bounded_time_and_leaves_nothing(monkeypatch):
    if transport.uses_orm_broker():
        pytest.skip("the ORM broker is the registry database: see the registry test")
    from django_q.brokers.redis_broker import Redis

    dead = Redis()
    import redis

    dead.connection = redis.from_url("redis://127.0.0.1:1/0?socket_connect_timeout=2&socket_timeout=2")
    monkeypatch.setattr(transport, "_broker", dead)
    began = time.monotonic()
    with pytest.raises(SessionStartError) as e:
        start_session("No-op", company="CRONUS")
    assert e.value.reason == "unavailable" and "task queue is unavailable" in str(e.value)
    assert try_start_session("No-op", company="CRONUS") is None
    assert time.monotonic() - began < 10
    assert not BackgroundSession.objects.exists() and not SessionEvent.objects.exists()
    monkeypatch.undo()
    assert start_session("No-op", company="CRONUS").status == "queued"  # back again


def test_a_registry_that_is_down_gives_unavailable_and_then_recovers():
    conn = connections["registry"]
    saved = dict(conn.settings_dict)
    conn.close()
    if conn.vendor == "sqlite":
        conn.settings_dict["NAME"] = "/nonexistent/directory/registry.sqlite3"
    else:
        conn.settings_dict["PORT"] = "1"
    began = time.monotonic()
    try:
        with pytest.raises(SessionStartError) as e:
            start_session("No-op", company="CRONUS")
        assert e.value.reason == "unavailable"
        assert try_start_session("No-op", company="CRONUS", key="k") is None
        assert time.monotonic() - began < 15
    finally:
        conn.close()
        conn.settings_dict.clear()
        conn.settings_dict.update(saved)
    assert nothing_left_behind()
    assert start_session("No-op", company="CRONUS").status == "queued"


@pytest.mark.integration
def test_a_company_database_that_is_down_fails_the_session_with_a_clear_error(cluster):
    company = connections["company_cronus"]
    if company.vendor != "postgresql":
        pytest.skip("an SQLite file cannot be taken down under an open connection")
    # Both workers hold an open connection to the company before it goes down.
    warm = [start_session("Sleep", company="CRONUS", params={"seconds": "0.3"}) for _ in range(6)]
    assert len({wait_session(s.id, timeout=WAIT).worker for s in warm}) == 2
    name = company.settings_dict["NAME"]
    admin = connections["default"]
    with admin.cursor() as c:
        c.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
    try:
        s = start_session("Insert Row", company="CRONUS")
        done = wait_session(s.id, timeout=WAIT)
    finally:
        with admin.cursor() as c:
            c.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        company.close()
    assert done.status == "failed"
    assert "not currently accepting connections" in done.error or "terminating connection" in done.error
    # Every worker recovers: its dropped connection is replaced before the next session uses it.
    after = [start_session("Sleep", company="CRONUS", params={"seconds": "0.3"}) for _ in range(6)]
    outcomes = [wait_session(s.id, timeout=WAIT) for s in after]
    assert [(o.status, o.error) for o in outcomes] == [("succeeded", "")] * 6
    assert len({BackgroundSession.objects.get(pk=s.id).worker for s in after}) == 2


@pytest.mark.integration
def test_kill_9_of_a_worker_mid_codeunit_loses_only_that_session(cluster):
    victim_log = uuid.uuid4()
    victim = start_session("Write And Sleep", company="CRONUS", params={"log_id": str(victim_log)})
    wait_until(lambda: BackgroundSession.objects.get(pk=victim.id).status == "running", timeout=WAIT)
    others = [start_session("Insert Row", company="CRONUS UK") for _ in range(20)]
    pid = int(BackgroundSession.objects.get(pk=victim.id).worker.rsplit(":", 1)[1])
    import os
    import signal

    os.kill(pid, signal.SIGKILL)
    for s in others:
        assert wait_session(s.id, timeout=WAIT).status == "succeeded"
    wait_until(lambda: BackgroundSession.objects.get(pk=victim.id).status == "lost", timeout=30)
    assert not SessionLog.objects.using("company_cronus").filter(id=victim_log).exists()
    assert SessionLog.objects.using("company_cronus_uk").count() == 20
    assert wait_session(start_session("No-op", company="CRONUS").id, timeout=WAIT).status == "succeeded"


@pytest.mark.integration
def test_kill_9_of_the_whole_cluster_then_a_restart_runs_every_queued_session_once(qcluster):
    sleepers = [start_session("Write And Sleep", company="CRONUS", params={"seconds": 600}) for _ in range(2)]
    wait_until(lambda: BackgroundSession.objects.filter(status="running").count() == 2, timeout=WAIT)
    waiting = [start_session("Insert Row", company="CRONUS UK") for _ in range(30)]
    wait_until(fetched_some, timeout=WAIT, message="the cluster to fetch waiting tasks before it dies")
    qcluster.kill()
    queued_at_kill = BackgroundSession.objects.filter(status="queued").count()
    qcluster.start()
    for s in waiting:
        assert wait_session(s.id, timeout=WAIT).status == "succeeded"
    for s in waiting:
        assert SessionEvent.objects.filter(session_id=s.id, kind="started").count() == 1
    rows = SessionLog.objects.using("company_cronus_uk").values_list("session_id", flat=True)
    assert sorted(rows) == sorted(s.id for s in waiting)  # each written exactly once
    for s in sleepers:
        wait_until(lambda s=s: BackgroundSession.objects.get(pk=s.id).status == "lost", timeout=40)
    assert queued_at_kill == 30
    assert not BackgroundSession.objects.filter(status__in=("queued", "running")).exists()


@pytest.mark.integration
def test_sigterm_lets_a_running_session_finish_and_leaves_nothing_running(qcluster):
    s = start_session("Sleep", company="CRONUS", params={"seconds": 3})
    wait_until(lambda: BackgroundSession.objects.get(pk=s.id).status == "running", timeout=WAIT)
    began = time.monotonic()
    qcluster.stop(timeout=60)
    assert qcluster.proc.returncode is not None
    done = BackgroundSession.objects.get(pk=s.id)
    assert done.status == "succeeded" and done.finished_at <= timezone.now()
    assert time.monotonic() - began >= 1  # it waited for the session
    assert not BackgroundSession.objects.filter(status="running").exists()
    qcluster.start()
    assert wait_session(start_session("No-op", company="CRONUS").id, timeout=WAIT).status == "succeeded"


def waiting_for_a_task(pid: int) -> bool:
    """Is the process asleep in a pipe read or on a lock (where an idle django-q2 worker waits)?"""
    try:
        with open(f"/proc/{pid}/stat") as stat, open(f"/proc/{pid}/wchan") as wchan:
            state, where = stat.read().rsplit(")", 1)[1].split()[0], wchan.read()
    except OSError:
        return False
    return state == "S" and (where == "0" or "pipe" in where or "futex" in where)


@pytest.mark.integration
def test_workers_killed_while_they_wait_for_a_task_never_stall_the_cluster(cluster):
    """django-q2's idle worker holds its task queue's read lock: killed then, every worker after it waited for ever."""
    import os
    import signal

    first, second = (start_session("Sleep", company=c, params={"seconds": "0.5"}) for c in ("CRONUS", "CRONUS UK"))
    workers = {int(wait_session(s.id, timeout=WAIT).worker.rsplit(":", 1)[1]) for s in (first, second)}
    assert len(workers) == 2
    # Both back at the queue: one reads its pipe holding the read lock, the other waits for the lock.
    wait_until(lambda: all(waiting_for_a_task(pid) for pid in workers), timeout=WAIT, message="idle workers")
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    began = time.monotonic()
    after = [start_session("No-op", company="CRONUS") for _ in range(6)]
    for s in after:
        assert wait_session(s.id, timeout=WAIT).status == "succeeded"
    print(f"the cluster ran again {time.monotonic() - began:.1f} s after its idle workers were killed")
