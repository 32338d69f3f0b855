"""Fixtures: a real qcluster process, company helpers, condition waits."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(__file__).resolve().parent.parent

# CI explores the same generated inputs every run, so a red run is reproducible; locally they vary.
from hypothesis import settings as hypothesis_settings  # noqa: E402

hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")
ALL_DATABASES = "__all__"


def pytest_sessionstart(session):
    # Stale SQLite files (and their -wal/-shm companions) from an earlier run
    # must not leak into this one.
    data_dir = Path(os.environ["SESSIONS_DATA_DIR"])
    if data_dir.name == "test" and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """Test database names are the working names (tests/settings.py names them per xdist worker too)."""


def manage_py(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``manage.py`` with the test settings in a process of its own; its output as text."""
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        cwd=BASE_DIR,
        env=dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings"),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_until(predicate, timeout: float = 30, interval: float = 0.05, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class Cluster:
    """A ``manage.py qcluster`` subprocess on the test databases."""

    def __init__(self, log_path: Path, workers: int = 2):
        self.log_path = log_path
        self.workers = workers
        self.proc = None

    def start(self):
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", Q_WORKERS=str(self.workers))
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, str(BASE_DIR / "manage.py"), "qcluster"],
            cwd=BASE_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(
            lambda: b"running." in self.log_path.read_bytes() or self.proc.poll() is not None,
            timeout=60,
            message="qcluster to start",
        )
        if self.proc.poll() is not None:
            raise RuntimeError(f"qcluster exited with {self.proc.returncode}:\n{self.tail()}")
        return self

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 30):
        """Stop as an operator would: SIGTERM to the cluster, which lets running sessions finish."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()

    def kill(self):
        """``kill -9`` of every process of the cluster at once."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]


@pytest.fixture(scope="session")
def qcluster(django_db_setup, tmp_path_factory):
    """A running two-worker qcluster, shared by the integration tests."""
    cluster = Cluster(tmp_path_factory.mktemp("qcluster") / "qcluster.log").start()
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster(qcluster):
    """The shared qcluster, checked alive before and after the test (its log is shown on failure).

    Sessions a test leaves running are stopped before its databases are flushed.
    """
    from sessions_app.api import request_stop
    from sessions_app.models import BackgroundSession
    from sessions_app.scheduling.models import JobQueueEntry, ScheduledTask

    assert qcluster.proc.poll() is None, qcluster.tail()
    yield qcluster
    _quiesce_scheduling()
    for session_id in BackgroundSession.objects.active().values_list("id", flat=True):
        request_stop(session_id)
    wait_until(
        lambda: (
            not BackgroundSession.objects.filter(status="running").exists()
            and not JobQueueEntry.objects.filter(status="in_process").exists()
            and not ScheduledTask.objects.filter(status="running").exists()
        ),
        timeout=30,
        message="left-over sessions, runs and tasks to end",
    )
    # The cluster's dispatcher must have nothing left to write while the test's databases are flushed:
    # a TRUNCATE racing its two-table transactions can deadlock on PostgreSQL.
    _quiesce_scheduling()
    assert qcluster.proc.poll() is None, qcluster.tail()


def _quiesce_scheduling():
    """Put every job queue entry on hold and cancel every task that has not started."""
    from sessions_app.scheduling.models import JobQueueEntry, ScheduledTask

    JobQueueEntry.objects.exclude(status="in_process").update(status="on_hold")
    ScheduledTask.objects.filter(status__in=("ready", "not_ready")).update(status="cancelled")
    ScheduledTask.objects.filter(
        status="failed", failure_codeunit_id__isnull=False, failure_session_id__isnull=True, failure_error=""
    ).update(failure_error="the test ended")


def vendor() -> str:
    from django.db import connections

    return connections["company_cronus"].vendor


@pytest.fixture
def companies():
    from sessions_app.companies import get_company

    return {name: get_company(name) for name in settings.SESSIONS_COMPANIES}


def pytest_report_header(config):
    engines = {alias: cfg["ENGINE"].rsplit(".", 1)[-1] for alias, cfg in settings.DATABASES.items()}
    return [f"databases: {engines}", f"broker: {settings.SESSIONS_BROKER}"]


@pytest.fixture
def demo_data():
    """The demo customers and vendors in every company."""
    from django.core.management import call_command

    call_command("load_demo", no_user=True, stdout=open(os.devnull, "w"))  # noqa: SIM115


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    # The qcluster fixture lives for the whole run once started; tests that
    # expect a session to stay queued must run before it starts. Last of the
    # hooks: a stable sort keeps any order --random-order gave within each group.
    items.sort(key=lambda item: item.get_closest_marker("integration") is not None)


def queued_tasks() -> int:
    """Tasks waiting in the broker (untaken queued sessions and ORM queue rows, or the Redis list)."""
    from sessions_app import transport

    return transport.waiting()


def push(payload: bytes) -> None:
    """Put a signed package on the broker's own queue, as django-q2's ``async_task`` would (a plain task)."""
    from django.utils import timezone
    from django_q.models import OrmQ

    from sessions_app import transport

    broker = transport.broker()
    if transport.uses_orm_broker():
        OrmQ.objects.using("registry").create(key=broker.list_key, payload=payload, lock=timezone.now())
    else:
        broker.enqueue(payload)


@pytest.fixture
def empty_queue():
    """An empty broker before and after the test (Redis is not flushed with the databases)."""
    from sessions_app import transport

    transport.broker().purge_queue()
    yield
    transport.broker().purge_queue()
