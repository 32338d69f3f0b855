"""The peers ``benchmark_sessions`` measures beside the sessions, round by round in the same run.

* ``tasks_db``: a no-op ``@task`` (``bench.tasks.noop``) enqueued with Django's task API on
  django-tasks-db, worked by ``--workers`` ``manage.py db_worker`` processes;
* ``tasks_backend``: the same ``@task`` on this project's backend (``SessionsBackend``): each one a
  background session, run by the benchmark's qcluster;
* ``celery_none`` / ``celery_redis`` (``--peers celery``): a no-op Celery task on a Redis broker,
  without and with the Redis result backend (``bench/celery_app.py``).

Each peer but ``tasks_backend`` (the qcluster's) has workers of its own, started and stopped by the
benchmark and idle while the other rounds run; every round waits for all N tasks to finish.
"""

import importlib.util
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connections, router

from sessions_app.companies import use_company

from .benchmark import Round
from .procs import Processes, manage
from .runinfo import without_password

PEER_CHOICES = ("tasks_db", "tasks_backend", "celery")
TASKS_DB_ALIAS = "tasks_db"
# db_worker's poll when it finds no task (its default is 1 s): django-q2's, Q_POLL, is 0.1 s.
DB_WORKER_INTERVAL = 0.1
SESSIONS_BACKEND = "sessions_app.backends.SessionsBackend"


def celery_missing() -> str:
    return "--peers celery needs celery: pip install -e '.[bench]'"


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _has_tasks_api() -> bool:
    return _installed("django.tasks") or _installed("django_tasks")


def missing(peer: str) -> str | None:
    """Why ``peer`` cannot run with these packages and settings, or None."""
    backends = getattr(settings, "TASKS", None) or {}
    if peer in ("tasks_db", "tasks_backend") and not _has_tasks_api():
        return f"--peers {peer} needs django.tasks: Django 6, or pip install -e '.[bench]' on Django 5.2"
    if peer == "tasks_db":
        if not _installed("django_tasks_db"):
            return "--peers tasks_db needs django-tasks-db: pip install -e '.[bench]'"
        if backends.get(TASKS_DB_ALIAS, {}).get("BACKEND") != "django_tasks_db.DatabaseBackend":
            return f"--peers tasks_db needs TASKS[{TASKS_DB_ALIAS!r}] on django_tasks_db.DatabaseBackend"
    if peer == "tasks_backend" and backends.get("default", {}).get("BACKEND") != SESSIONS_BACKEND:
        return f"--peers tasks_backend needs TASKS['default'] on {SESSIONS_BACKEND}"
    if peer == "celery" and not _installed("celery"):
        return celery_missing()
    return None


def default_peers() -> list[str]:
    """The peers whose packages and settings are here; never Celery, which needs a Redis."""
    return [p for p in ("tasks_db", "tasks_backend") if missing(p) is None]


def make(peers: list[str]) -> dict:
    """The peer objects of ``--peers``, by kind (``celery`` is two: without and with a result backend)."""
    out = {}
    for name in PEER_CHOICES:
        if name not in peers:
            continue
        if name == "tasks_db":
            out["tasks_db"] = TasksDb()
        elif name == "tasks_backend":
            out["tasks_backend"] = TasksBackend()
        else:
            for peer in (CeleryPeer(results=False), CeleryPeer(results=True)):
                out[peer.kind] = peer
    return out


def _rows_round(kind, n, seconds, start_ms, rows) -> Round:
    """A round from its (created, started, finished) rows."""
    return Round(
        kind,
        n,
        seconds,
        n / seconds,
        start_ms,
        queue_to_start_ms=[(s - c).total_seconds() * 1000 for c, s, f in rows],
        queue_to_finish_ms=[(f - c).total_seconds() * 1000 for c, s, f in rows],
    )


class TasksDb:
    """Django's task API on django-tasks-db: rows in the control database, ``db_worker`` processes."""

    kind = "tasks_db"

    def command(self, index: int) -> list[str]:
        return manage(
            "db_worker",
            "--backend",
            TASKS_DB_ALIAS,
            "--interval",
            f"{DB_WORKER_INTERVAL:g}",  # only when it found nothing: a task is followed by the next at once
            "--no-startup-delay",
            "--no-reload",
            "--worker-id",
            f"bench-{index}",
            "--verbosity",
            "0",  # no line per task
        )

    def processes(self, workers: int, log_dir: Path):
        procs = Processes([self.command(i) for i in range(workers)], log_dir / "benchmark-db_worker.log")
        procs.name = "db_worker"
        return procs

    def describe(self, workers: int) -> dict:
        return {
            "workers": f"{workers} x manage.py db_worker",
            "command": " ".join(["manage.py", *self.command(0)[2:]]).replace("bench-0", "bench-<i>"),
            "poll_s": DB_WORKER_INTERVAL,
            "backend": "django_tasks_db.DatabaseBackend",
        }

    def _results(self):
        from django_tasks_db.models import DBTaskResult

        return DBTaskResult.objects.filter(backend_name=TASKS_DB_ALIAS)

    def prepare(self):
        """Leftovers of an interrupted run would be counted in the first round."""
        self._results().delete()

    def databases(self, bench) -> set[str]:
        from django_tasks_db.models import DBTaskResult

        return {connections[router.db_for_write(DBTaskResult)].settings_dict["NAME"]}

    def run(self, bench, n: int, procs) -> Round:
        from django_tasks_db.compat import TaskResultStatus

        from bench.tasks import noop

        task = noop.using(backend=TASKS_DB_ALIAS)
        start_ms = []
        t0 = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            task.enqueue()
            start_ms.append((time.perf_counter() - t) * 1000)
        results = self._results()
        pending = (TaskResultStatus.READY, TaskResultStatus.RUNNING)
        bench.wait(lambda: not results.filter(status__in=pending).exists(), procs)
        seconds = time.perf_counter() - t0
        rows = list(results.values_list("status", "enqueued_at", "started_at", "finished_at"))
        failed = [r for r in rows if r[0] != TaskResultStatus.SUCCESSFUL]
        if failed or len(rows) != n:
            raise RuntimeError(f"{len(failed)} of {len(rows)} tasks_db tasks (of {n}) did not succeed: {failed[:3]}")
        results.delete()
        return _rows_round(self.kind, n, seconds, start_ms, [r[1:] for r in rows])


class TasksBackend:
    """Django's task API on this project's backend: each ``@task`` a background session."""

    kind = "tasks_backend"

    def processes(self, workers: int, log_dir: Path):
        return None  # the benchmark's qcluster runs them, as it runs the sessions

    def describe(self, workers: int) -> dict:
        return {"workers": "the benchmark's qcluster", "backend": SESSIONS_BACKEND}

    def prepare(self):
        pass

    def databases(self, bench) -> set[str]:
        return bench.session_databases()

    def run(self, bench, n: int, procs) -> Round:
        from bench.tasks import noop

        ids, start_ms = [], []
        t0 = time.perf_counter()
        # In autocommit, ON_COMMIT (the backend's default) queues each session at once.
        with use_company(bench.company):
            for _ in range(n):
                t = time.perf_counter()
                ids.append(int(noop.enqueue().id))
                start_ms.append((time.perf_counter() - t) * 1000)
        return bench.wait_sessions(self.kind, ids, start_ms, t0, procs)


class CeleryPeer:
    """Celery 5 with a Redis broker, without (``celery_none``) or with (``celery_redis``) its result backend."""

    def __init__(self, results: bool):
        self.results = results
        self.kind = "celery_redis" if results else "celery_none"
        self._app = None

    @property
    def app(self):
        if self._app is None:
            from bench.celery_app import make_app

            self._app = make_app(self.results)
        return self._app

    def command(self, workers: int) -> list[str]:
        from bench.celery_app import queue_name

        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench.celery_app",
            "worker",
            f"--concurrency={workers}",
            "--pool=prefork",
            "-O",
            "fair",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            queue_name(self.results),
            "-n",
            f"{self.kind}@%h",
            "--loglevel=WARNING",
        ]

    def processes(self, workers: int, log_dir: Path):
        env = {"BENCH_CELERY_RESULTS": "1" if self.results else "0"}
        procs = Processes([self.command(workers)], log_dir / f"benchmark-{self.kind}.log", env=env)
        procs.name = f"celery worker ({self.kind})"
        return procs

    def describe(self, workers: int) -> dict:
        from bench.celery_app import broker_url

        command = " ".join(["celery", *self.command(workers)[3:]])
        return {
            "workers": f"celery worker, prefork pool of {workers}",
            "command": f"BENCH_CELERY_RESULTS={int(self.results)} {command}",
            "broker": without_password(broker_url()),
            "result_backend": without_password(broker_url()) if self.results else None,
        }

    def redis(self):
        from bench.celery_app import counter

        return counter()

    def prepare(self):
        self.app.control.purge()
        stale = list(self.redis().scan_iter(f"bench:{self.kind}:*"))
        if stale:
            self.redis().delete(*stale)

    def databases(self, bench) -> set[str]:
        return set()  # it writes to no database: no commits to count

    def run(self, bench, n: int, procs) -> Round:
        key = f"bench:{self.kind}:{uuid.uuid4().hex[:12]}"
        task = self.app.tasks["bench.noop"]
        client = self.redis()
        sent, start_ms = [], []
        t0 = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            sent.append(task.delay(key))
            start_ms.append((time.perf_counter() - t) * 1000)
        bench.wait(lambda: int(client.get(key) or 0) >= n, procs)
        seconds = time.perf_counter() - t0
        client.delete(key)
        if self.results:
            for result in sent:
                result.forget()
        return Round(self.kind, n, seconds, n / seconds, start_ms)


def check_redis() -> str | None:
    """Why the Celery peers' Redis cannot be reached, or None."""
    import redis

    from bench.celery_app import broker_url

    try:
        redis.Redis.from_url(broker_url(), socket_connect_timeout=2, socket_timeout=5).ping()
    except redis.RedisError as e:
        return f"--peers celery needs a Redis at {without_password(broker_url())} (REDIS_URL): {e}"
    return None
