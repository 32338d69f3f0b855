"""Stop, timeouts, lost sessions and live progress, against a real qcluster."""

import os
import signal
import time
import uuid
from datetime import timedelta

import pytest

from demo.models import SessionLog
from sessions_app.api import request_stop, start_session, wait_session
from sessions_app.models import BackgroundSession, SessionEvent
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, databases="__all__")]

WAIT = 30


def row(session_id):
    return BackgroundSession.objects.get(pk=session_id)


def running(session_id):
    return wait_until(
        lambda: (r := row(session_id)).status == "running" and r, timeout=WAIT, message=f"session {session_id} to run"
    )


def log_exists(log_id, alias="company_cronus"):
    return SessionLog.objects.using(alias).filter(id=log_id).exists()


def stop_and_time(session_id, comment="") -> float:
    began = time.monotonic()
    assert request_stop(session_id, comment=comment)
    wait_until(lambda: not row(session_id).is_active, timeout=WAIT, interval=0.02, message="the stop")
    return time.monotonic() - began


@pytest.mark.parametrize("codeunit", ["Write And Sleep", "Long Query"])
def test_a_running_session_stops_within_two_seconds_without_check_stop(cluster, codeunit):
    log_id = uuid.uuid4()
    s = start_session(codeunit, company="CRONUS", params={"log_id": str(log_id), "seconds": 600})
    running(s.id)
    # Its last log line comes right before the blocking call; the stop must work from inside it.
    wait_until(lambda: SessionEvent.objects.filter(session_id=s.id, kind="log").exists(), timeout=WAIT)
    elapsed = stop_and_time(s.id, comment="operator stop")
    print(f"stop_session -> stopped ({codeunit}) in {elapsed:.2f}s")
    done = row(s.id)
    assert done.status == "stopped", (done.error, done.traceback)
    assert elapsed < 2.0, f"stopping took {elapsed:.2f}s"
    assert done.stop_comment == "operator stop" and "operator stop" in done.error
    assert not log_exists(log_id), "the stopped session's writes must roll back"
    kinds = list(SessionEvent.objects.filter(session_id=s.id).values_list("kind", flat=True))
    assert kinds[-2:] == ["stop_requested", "stopped"]
    # The worker keeps serving.
    after = wait_session(start_session("No-op", company="CRONUS").id, timeout=WAIT)
    assert after.status == "succeeded"


def test_a_cooperative_codeunit_stops_at_check_stop(cluster):
    log_id = uuid.uuid4()
    s = start_session("Cooperative Loop", company="CRONUS", params={"log_id": str(log_id), "seconds": 600})
    running(s.id)
    assert stop_and_time(s.id) < 2.0
    done = row(s.id)
    assert done.status == "stopped" and not log_exists(log_id)


def test_a_queued_session_stopped_before_a_worker_is_free_never_runs(cluster):
    sleepers = [start_session("Write And Sleep", company="CRONUS UK", params={"seconds": 600}) for _ in range(2)]
    for s in sleepers:
        running(s.id)
    waiting = start_session("Insert Row", company="CRONUS")  # both workers are busy: it must wait
    assert row(waiting.id).status == "queued"
    result = request_stop(waiting.id)
    assert result and result.status == "cancelled"
    for s in sleepers:
        assert request_stop(s.id)
    for s in sleepers:
        assert wait_session(s.id, timeout=WAIT).status == "stopped"
    # A later session has run, so the workers have been free for the cancelled one: a task its
    # cluster had taken before the stop was delivered and refused; one not taken is never delivered.
    assert wait_session(start_session("No-op", company="CRONUS").id, timeout=WAIT).status == "succeeded"
    if row(waiting.id).fetched_by:
        wait_until(
            lambda: SessionEvent.objects.filter(session_id=waiting.id, kind="refused").exists(),
            timeout=WAIT,
            message="the cancelled session's task to be refused",
        )
    w = row(waiting.id)
    assert w.status == "cancelled" and w.started_at is None and not log_exists(w.params["log_id"])


def test_a_session_past_its_timeout_is_ended_and_rolled_back(cluster):
    log_id = uuid.uuid4()
    s = start_session("Write And Sleep", company="CRONUS", params={"log_id": str(log_id)}, timeout=2)
    done = wait_session(s.id, timeout=WAIT)
    assert done.status == "timed_out"
    assert done.elapsed < timedelta(seconds=4)
    assert "Timed out after 0:00:02" in done.error and not log_exists(log_id)


def kill_worker_of(session_id) -> int:
    pid = int(row(session_id).worker.rsplit(":", 1)[1])
    os.kill(pid, signal.SIGKILL)
    return pid


def test_a_killed_worker_leaves_a_lost_session_and_rolled_back_writes(cluster):
    log_id = uuid.uuid4()
    s = start_session("Write And Sleep", company="CRONUS", params={"log_id": str(log_id)})
    running(s.id)
    wait_until(lambda: SessionEvent.objects.filter(session_id=s.id, kind="log").exists(), timeout=WAIT)
    kill_worker_of(s.id)
    killed = time.monotonic()
    wait_until(lambda: row(s.id).status == "lost", timeout=30, interval=0.2, message="the session to be lost")
    took = time.monotonic() - killed
    print(f"kill -9 -> lost in {took:.1f}s")
    assert took < 30
    done = row(s.id)
    assert "ended without recording an outcome" in done.error and "never can" in done.error
    assert not log_exists(log_id)
    assert not BackgroundSession.objects.filter(rerun_of=s.id).exists()  # not re-run by default
    # The cluster replaced the worker and keeps serving.
    assert wait_session(start_session("No-op", company="CRONUS").id, timeout=WAIT).status == "succeeded"


def test_a_codeunit_that_asks_for_it_is_run_once_more_after_a_loss(cluster):
    log_id = uuid.uuid4()
    s = start_session("Rerun When Lost", company="CRONUS", params={"log_id": str(log_id)})
    running(s.id)
    wait_until(lambda: SessionEvent.objects.filter(session_id=s.id, kind="log").exists(), timeout=WAIT)
    kill_worker_of(s.id)
    again = wait_until(
        lambda: BackgroundSession.objects.filter(rerun_of=s.id).first(), timeout=40, message="the re-run"
    )
    done = wait_session(again.id, timeout=WAIT)
    assert row(s.id).status == "lost"
    assert done.status == "succeeded" and done.result == "re-run finished"
    assert BackgroundSession.objects.filter(rerun_of=s.id).count() == 1
    assert SessionLog.objects.using("company_cronus").get(id=log_id).result == f"re-run of {s.id}"


def test_progress_and_log_lines_are_visible_while_the_session_runs(cluster):
    s = start_session("Busy Loop", company="CRONUS", params={"steps": 40, "pause": "0.1"})
    mid = wait_until(
        lambda: (r := row(s.id)).status == "running" and r.progress_done and r.progress_done < 40 and r,
        timeout=WAIT,
        interval=0.05,
        message="progress mid-run",
    )
    assert mid.progress_total == 40 and mid.progress_message.startswith("step ")
    wait_until(
        lambda: SessionEvent.objects.filter(session_id=s.id, kind="log").exists() and row(s.id).is_active,
        timeout=WAIT,
        message="a log line mid-run",
    )
    done = wait_session(s.id, timeout=WAIT)
    assert done.status == "succeeded" and done.progress_done == 40
    assert SessionEvent.objects.filter(session_id=s.id, kind="log").count() == 40


def test_heartbeats_are_written_while_a_session_runs(cluster):
    s = start_session("Write And Sleep", company="CRONUS", params={"seconds": 600})
    first = running(s.id).heartbeat_at
    wait_until(lambda: row(s.id).heartbeat_at > first, timeout=15, interval=0.2, message="a newer heartbeat")
    assert request_stop(s.id)
    assert wait_session(s.id, timeout=WAIT).status == "stopped"
