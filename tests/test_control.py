"""Session control without a worker: stop before start, limits and keys under concurrent starts, logs, pruning."""

import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from sessions_app import maintenance
from sessions_app.api import request_stop, run_codeunit, start_session, stop_session, try_start_session
from sessions_app.exceptions import SessionStartError
from sessions_app.models import BackgroundSession, CompanyAccess, SessionEvent
from tests.conftest import BASE_DIR, queued_tasks

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]


def race(processes: int, count: int, codeunit: str, *extra: str) -> list[list]:
    """Start ``count`` sessions in each of ``processes`` processes at the same instant."""
    start_at = time.time() + 3
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", SESSIONS_LOG_LEVEL="WARNING")
    procs = [
        subprocess.Popen(
            [sys.executable, str(BASE_DIR / "tests" / "race.py"), str(start_at), str(count), codeunit, *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
        results.append(json.loads(out))
    return results


def test_stopping_a_queued_session_cancels_it_so_it_never_runs():
    s = start_session("No-op", company="CRONUS")
    result = request_stop(s.id, comment="not today")
    assert result and result.status == "cancelled"
    row = BackgroundSession.objects.get(pk=s.id)
    assert row.status == "cancelled" and row.stop_comment == "not today" and row.finished_at
    assert SessionEvent.objects.filter(session_id=s.id, kind="cancelled", message="not today").exists()
    # Its task is still in the queue; when a worker gets it, the claim refuses it.
    from sessions_app.runner import run

    assert run(s.id) is None
    assert BackgroundSession.objects.get(pk=s.id).started_at is None
    assert SessionEvent.objects.filter(session_id=s.id, kind="refused").exists()


def test_stopping_a_finished_or_unknown_session_returns_false_with_a_reason():
    done = run_codeunit("No-op", company="CRONUS")
    result = request_stop(done.id)
    assert not result and result.reason == f"Session {done.id} has already finished: succeeded."
    assert stop_session(done.id) is False
    missing = request_stop(987654)
    assert not missing and "does not exist" in missing.reason
    assert stop_session("not-an-id") is False


def test_a_session_cannot_stop_itself():
    s = run_codeunit("Stop Myself", company="CRONUS")
    assert s.result == {"stopped": False, "reason": f"Session {s.id} cannot stop itself."}


def test_stopping_needs_the_stop_permission():
    s = start_session("No-op", company="CRONUS")
    bob = User.objects.create_user("bob")
    CompanyAccess.objects.create(user=bob, company="CRONUS")
    assert not request_stop(s.id, user=bob)
    bob.user_permissions.add(Permission.objects.get(codename="stop_session"))
    bob = User.objects.get(pk=bob.pk)
    assert request_stop(s.id, user=bob)
    assert BackgroundSession.objects.get(pk=s.id).stopped_by == "bob"


def test_stop_session_command_exit_codes(capsys):
    s = start_session("No-op", company="CRONUS")
    call_command("stop_session", str(s.id), comment="from the shell")
    assert "cancelled before it started" in capsys.readouterr().out
    assert BackgroundSession.objects.get(pk=s.id).stop_comment == "from the shell"
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings")
    again = subprocess.run(
        [sys.executable, "manage.py", "stop_session", str(s.id)], cwd=BASE_DIR, env=env, capture_output=True
    )
    assert again.returncode == 1 and b"already finished: cancelled" in again.stderr
    bad = subprocess.run(
        [sys.executable, "manage.py", "stop_session", "abc"], cwd=BASE_DIR, env=env, capture_output=True
    )
    assert bad.returncode == 2 and b"'abc' is not a whole number" in bad.stderr


@override_settings(SESSIONS_MAX_ACTIVE=2)
def test_the_global_limit_refuses_one_more_and_frees_up_when_one_ends():
    a = start_session("No-op", company="CRONUS")
    start_session("No-op", company="CRONUS UK")
    with pytest.raises(SessionStartError) as e:
        start_session("No-op", company="CRONUS")
    assert e.value.reason == "limit_reached" and "SESSIONS_MAX_ACTIVE" in str(e.value)
    assert try_start_session("No-op", company="CRONUS") is None
    assert BackgroundSession.objects.count() == 2 and queued_tasks() == 2
    stop_session(a.id)
    assert start_session("No-op", company="CRONUS").status == "queued"


@override_settings(SESSIONS_MAX_ACTIVE_PER_COMPANY={"CRONUS": 1})
def test_the_per_company_limit():
    start_session("No-op", company="CRONUS")
    with pytest.raises(SessionStartError) as e:
        start_session("No-op", company="CRONUS")
    assert e.value.reason == "limit_reached" and "'CRONUS'" in str(e.value)
    start_session("No-op", company="CRONUS UK")
    start_session("No-op", company="CRONUS UK")


def test_the_limit_holds_when_many_processes_start_at_once():
    results = race(4, 5, "No-op", "--max-active", "7")
    started = [i for r in results for i in r if i is not None]
    assert len(started) == 7 and len(set(started)) == 7
    assert BackgroundSession.objects.count() == 7 and queued_tasks() == 7


def test_the_per_company_limit_holds_when_many_processes_start_at_once():
    results = race(4, 6, "No-op", "--max-per-company", "4", "--companies", "CRONUS,CRONUS UK")
    started = [i for r in results for i in r if i is not None]
    assert len(started) == 8
    assert BackgroundSession.objects.filter(company="CRONUS").count() == 4
    assert BackgroundSession.objects.filter(company="CRONUS UK").count() == 4


def test_one_key_started_from_several_processes_at_once_makes_one_session():
    results = race(4, 3, "No-op", "--key", "invoice-7")
    ids = {i for r in results for i in r}
    assert len(ids) == 1 and None not in ids
    assert BackgroundSession.objects.count() == 1 and queued_tasks() == 1


def test_log_lines_and_progress_are_throttled_and_kept_in_order():
    s = run_codeunit("Busy Loop", company="CRONUS", params={"steps": 5000})
    assert s.status == "succeeded" and s.result == 5000
    assert (s.progress_done, s.progress_total, s.progress_message) == (5000, 5000, "step 5000")
    logs = list(SessionEvent.objects.filter(session_id=s.id, kind="log").values_list("message", flat=True))
    assert logs[:3] == ["step 1", "step 2", "step 3"]
    assert len(logs) == 1001 and logs[-1] == "(4000 more log lines not kept)"
    milestones = list(SessionEvent.objects.filter(session_id=s.id, kind="progress").values_list("message", flat=True))
    assert milestones[-1].startswith("100% (5000/5000)")
    assert len(milestones) <= 10


def test_abandoned_pending_sessions_are_cancelled():
    from django.db import transaction

    with transaction.atomic(using="company_cronus"):
        s = start_session("No-op", company="CRONUS", on_commit=True)
        BackgroundSession.objects.filter(pk=s.id).update(created_at=timezone.now() - timedelta(hours=2))
        assert maintenance.cancel_abandoned() == 1
        assert BackgroundSession.objects.get(pk=s.id).status == "cancelled"
    # The late commit finds it cancelled and queues nothing.
    assert BackgroundSession.objects.get(pk=s.id).status == "cancelled" and queued_tasks() == 0


def test_prune_deletes_old_finished_sessions_and_their_events_only(capsys):
    old = run_codeunit("No-op", company="CRONUS")
    recent = run_codeunit("No-op", company="CRONUS")
    active = start_session("No-op", company="CRONUS")
    BackgroundSession.objects.filter(pk__in=[old.id, active.id]).update(
        finished_at=timezone.now() - timedelta(days=40), created_at=timezone.now() - timedelta(days=40)
    )
    call_command("prune_sessions", "--older-than", "30")
    assert "Deleted 1 finished sessions" in capsys.readouterr().out
    assert set(BackgroundSession.objects.values_list("id", flat=True)) == {recent.id, active.id}
    assert not SessionEvent.objects.filter(session_id=old.id).exists()
    assert SessionEvent.objects.filter(session_id=recent.id).exists()


def test_a_stranded_session_is_queued_again_only_when_its_push_succeeds(monkeypatch):
    """Requeue and push are one registry commit: a failed push leaves the row and its events as they were."""
    from sessions_app import transport as queue_module

    s = start_session("No-op", company="CRONUS")
    old = timezone.now() - timedelta(hours=1)
    BackgroundSession.objects.filter(pk=s.id).update(queued_at=old)
    monkeypatch.setattr(queue_module, "can_lose_tasks", lambda: True)  # as Redis can
    monkeypatch.setattr(queue_module, "is_empty", lambda: True)
    real_enqueue = queue_module.publish

    def down(session):
        raise ConnectionError("broker down")

    monkeypatch.setattr(queue_module, "publish", down)
    assert maintenance.requeue_stranded() == []
    row = BackgroundSession.objects.get(pk=s.id)
    assert (row.status, row.queued_at) == ("queued", old)
    assert not SessionEvent.objects.filter(session_id=s.id, message__startswith="queued again").exists()

    monkeypatch.setattr(queue_module, "publish", real_enqueue)
    assert maintenance.requeue_stranded() == [s.id]
    row = BackgroundSession.objects.get(pk=s.id)
    assert row.status == "queued" and row.queued_at > old and row.task_id != s.task_id
    assert SessionEvent.objects.filter(session_id=s.id, message__startswith="queued again: the broker lost it").exists()


def test_pruning_never_delays_the_checks_that_settle_sessions(monkeypatch, settings, tmp_path):
    """A new leader prunes beside its checks: a company database a long session holds makes only the prune wait."""
    import socket
    import sqlite3
    import uuid

    from django.db import connections

    from sessions_app import leader
    from sessions_app.models import SessionFence

    settings.SESSIONS_RUN_DIR = str(tmp_path)
    monkeypatch.setattr(leader, "leadership", lambda lead=leader.Leadership(f"prune-{uuid.uuid4().hex}"): lead)
    old = timezone.now() - timedelta(days=400)
    SessionFence.objects.using("company_cronus").create(session_uuid=uuid.uuid4(), stage="run", outcome="void", at=old)
    dead = start_session("No-op", company="CRONUS")  # claimed by a worker that died: the checks must settle it
    BackgroundSession.objects.filter(pk=dead.id).update(status="running", worker=f"{socket.gethostname()}:999999999")
    company = connections["company_cronus"]
    holder = None
    if company.vendor == "sqlite":  # a long session holds the company's write lock
        holder = sqlite3.connect(company.settings_dict["NAME"], isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
    try:
        thread = maintenance.MaintenanceThread()
        began = time.monotonic()
        thread.step()
        assert time.monotonic() - began < 2
        assert BackgroundSession.objects.get(pk=dead.id).status == "lost"
        assert thread.pruning is not None
    finally:
        if holder is not None:
            holder.execute("COMMIT")
            holder.close()
    pruning = thread.pruning
    pruning.join(30)
    assert not SessionFence.objects.using("company_cronus").filter(at=old).exists()
    thread.step()
    assert thread.pruning is pruning  # once an hour in the cluster, whichever worker leads


def test_the_host_is_a_setting_so_containers_that_share_a_host_name_never_look_up_each_others_pids(settings):
    """A pid of another container is no process of ours: its session waits for its heartbeat, never a pid check."""
    from sessions_app import runner, transport

    settings.SESSIONS_HOST = "pod-a"
    assert runner.worker_name() == f"pod-a:{os.getpid()}"
    assert transport.cluster_name() == f"pod-a:{os.getppid()}"
    ours, theirs = (start_session("No-op", company="CRONUS") for _ in range(2))
    now = timezone.now()
    for session, worker in ((ours, "pod-a:999999999"), (theirs, "pod-b:999999999")):
        BackgroundSession.objects.filter(pk=session.id).update(
            status="running", worker=worker, started_at=now, heartbeat_at=now
        )
    assert maintenance.settle_running() == [ours.id]  # no such process here: settled at once
    assert BackgroundSession.objects.get(pk=ours.id).status == "lost"
    assert BackgroundSession.objects.get(pk=theirs.id).status == "running"  # alive, as far as we can tell
