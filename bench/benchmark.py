"""The benchmark behind ``manage.py benchmark_sessions``.

Measured in one run, in alternating rounds, against a qcluster the benchmark
starts itself:

* ``baseline``: bare ``async_task`` calls of a no-op function, with
  django-q2's default result saving (``save_limit=250``);
* ``noop``: ``start_session`` of a codeunit that does nothing;
* ``insert``: ``start_session`` of a codeunit that inserts one row in its company.

and, after each round, one session at a time (``latency``) and scheduled
tasks due one after another (``scheduled``: ``not_before`` to start).
"""

import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.utils import timezone

from sessions_app.api import start_session
from sessions_app.companies import all_companies, use_company
from sessions_app.conf import app_settings
from sessions_app.models import BackgroundSession, SessionEvent, Status

NOOP_CODEUNIT = 50190
INSERT_CODEUNIT = 50191
POPULATED_CODEUNIT = (50192, "Populated")
KINDS = ("baseline", "noop", "insert")
ALL_KINDS = (*KINDS, "latency", "scheduled")


def noop():
    """The bare django-q2 task of the baseline."""
    return None


def _queue_size() -> int:
    """Tasks in the queue, delivered or not (an ORM queue row stays until it is acknowledged)."""
    from sessions_app import queue

    if queue.uses_orm_broker():
        from django_q.models import OrmQ

        return OrmQ.objects.using(app_settings.REGISTRY_ALIAS).count()
    return queue.broker().queue_size()


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass
class Round:
    kind: str
    n: int
    seconds: float
    rate: float
    start_ms: list[float] = field(default_factory=list, repr=False)
    queue_to_start_ms: list[float] = field(default_factory=list, repr=False)
    queue_to_finish_ms: list[float] = field(default_factory=list, repr=False)
    commits: int | None = None

    def summary(self) -> dict:
        return {
            "kind": self.kind,
            "n": self.n,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.rate, 1),
            "start_ms_p50": _r(percentile(self.start_ms, 50)),
            "start_ms_p95": _r(percentile(self.start_ms, 95)),
            "queue_to_start_ms_p50": _r(percentile(self.queue_to_start_ms, 50)),
            "queue_to_start_ms_p95": _r(percentile(self.queue_to_start_ms, 95)),
            "queue_to_finish_ms_p50": _r(percentile(self.queue_to_finish_ms, 50)),
            "queue_to_finish_ms_p95": _r(percentile(self.queue_to_finish_ms, 95)),
            "commits_per_task": None if self.commits is None else round(self.commits / self.n, 1),
        }


def _r(value):
    return None if value is None else round(value, 2)


class Cluster:
    """A qcluster subprocess for the benchmark, with django-q2's default result saving."""

    def __init__(self, workers: int, broker: str, log_path: Path):
        self.workers, self.broker, self.log_path = workers, broker, log_path

    def __enter__(self):
        env = dict(
            os.environ,
            Q_WORKERS=str(self.workers),
            SESSIONS_BROKER=self.broker,
            Q_SAVE_LIMIT="250",
            DJANGO_DEBUG="0",  # no query log in the workers
            SESSIONS_LOG_LEVEL="WARNING",
            Q_LOG_LEVEL="WARNING",
        )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        manage = Path(settings.BASE_DIR) / "manage.py"
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, str(manage), "qcluster"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def __exit__(self, *exc):
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the cluster stops its workers gracefully
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()

    def check(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"The benchmark's qcluster exited; see {self.log_path}")


class Benchmark:
    def __init__(self, n: int, workers: int, broker: str, company: str | None = None, timeout: float = 600):
        self.n, self.workers, self.broker = n, workers, broker
        self.company = company or all_companies()[0].name
        self.timeout = timeout
        self.vendor = connections[app_settings.REGISTRY_ALIAS].vendor

    # -- one round of each kind ------------------------------------------------

    def run(self, kind: str, cluster: Cluster, n: int | None = None) -> Round:
        n = n or self.n
        before = self._commit_counter()
        if kind == "baseline":
            result = self._baseline(n, cluster)
        else:
            result = self._sessions(NOOP_CODEUNIT if kind == "noop" else INSERT_CODEUNIT, kind, n, cluster)
        after = self._commit_counter()
        if before is not None and after is not None:
            result.commits = after - before
        return result

    def _baseline(self, n: int, cluster: Cluster) -> Round:
        from django_q.models import Task
        from django_q.tasks import async_task

        group = f"bench-{uuid.uuid4().hex[:12]}"
        waiting_before = _queue_size()
        start_ms = []
        t0 = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            last = async_task("bench.benchmark.noop", group=group, save=True)
            start_ms.append((time.perf_counter() - t) * 1000)
        tasks = Task.objects.using(app_settings.REGISTRY_ALIAS).filter(group=group)
        # django-q2 keeps only the newest 250 results (save_limit), so "done" is:
        # the last task's result is saved and the queue is empty.
        self._wait(lambda: tasks.filter(id=last).exists() and _queue_size() <= waiting_before, cluster)
        seconds = time.perf_counter() - t0
        rows = list(tasks.values_list("started", "stopped"))
        tasks.delete()
        return Round(
            "baseline",
            n,
            seconds,
            n / seconds,
            start_ms,
            queue_to_finish_ms=[(stopped - started).total_seconds() * 1000 for started, stopped in rows],
        )

    def _sessions(self, codeunit: int, kind: str, n: int, cluster: Cluster) -> Round:
        ids, start_ms = [], []
        t0 = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            ids.append(start_session(codeunit, company=self.company, debug=False).id)
            start_ms.append((time.perf_counter() - t) * 1000)
        sessions = BackgroundSession.objects.filter(id__gte=ids[0], id__lte=ids[-1])
        self._wait(lambda: not sessions.filter(status__in=(Status.QUEUED, Status.RUNNING)).exists(), cluster)
        seconds = time.perf_counter() - t0
        rows = list(sessions.values_list("status", "created_at", "started_at", "finished_at"))
        failed = [r for r in rows if r[0] != Status.SUCCEEDED]
        if failed:
            raise RuntimeError(f"{len(failed)} benchmark sessions did not succeed: {failed[:3]}")
        self._cleanup(ids)
        return Round(
            kind,
            n,
            seconds,
            n / seconds,
            start_ms,
            queue_to_start_ms=[(s - c).total_seconds() * 1000 for _, c, s, f in rows],
            queue_to_finish_ms=[(f - c).total_seconds() * 1000 for _, c, s, f in rows],
        )

    def latency(self, cluster: Cluster, n: int = 50) -> Round:
        """One session at a time: queue-to-start without a backlog in front of it."""
        ids, start_ms = [], []
        t0 = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            session = start_session(NOOP_CODEUNIT, company=self.company, debug=False)
            start_ms.append((time.perf_counter() - t) * 1000)
            ids.append(session.id)
            row = BackgroundSession.objects.filter(pk=session.id)
            deadline = time.monotonic() + 30
            while row.filter(status__in=(Status.QUEUED, Status.RUNNING)).exists():
                cluster.check()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Session {session.id} did not finish within 30s.")
                time.sleep(0.002)
        seconds = time.perf_counter() - t0
        rows = list(BackgroundSession.objects.filter(id__in=ids).values_list("created_at", "started_at", "finished_at"))
        self._cleanup(ids)
        return Round(
            "latency",
            n,
            seconds,
            n / seconds,
            start_ms,
            queue_to_start_ms=[(s - c).total_seconds() * 1000 for c, s, f in rows],
            queue_to_finish_ms=[(f - c).total_seconds() * 1000 for c, s, f in rows],
        )

    def scheduled(self, cluster: Cluster, n: int = 50, spacing: float = 0.05) -> Round:
        """Tasks due ``spacing`` seconds apart: how long after its ``not_before`` each one starts."""
        from sessions_app.scheduling import clock
        from sessions_app.scheduling.api import create_task
        from sessions_app.scheduling.models import ScheduledTask

        first = clock.now() + timedelta(seconds=1)
        ids = [
            create_task(NOOP_CODEUNIT, company=self.company, not_before=first + timedelta(seconds=spacing * i))
            for i in range(n)
        ]
        tasks = ScheduledTask.objects.filter(pk__in=ids)
        t0 = time.perf_counter()
        self._wait(lambda: not tasks.exclude(status="succeeded").exists(), cluster)
        seconds = time.perf_counter() - t0
        rows = list(tasks.values_list("not_before", "session_id"))
        started = dict(BackgroundSession.objects.filter(pk__in=[s for _, s in rows]).values_list("id", "started_at"))
        delays = [(started[s] - nb).total_seconds() * 1000 for nb, s in rows]
        tasks.delete()
        self._cleanup(sorted(started))
        return Round("scheduled", n, seconds, n / seconds, queue_to_start_ms=delays)

    def _cleanup(self, ids):
        SessionEvent.objects.filter(session_id__gte=ids[0], session_id__lte=ids[-1]).delete()
        BackgroundSession.objects.filter(id__gte=ids[0], id__lte=ids[-1]).delete()
        from demo.models import SessionLog

        with use_company(self.company):
            SessionLog.objects.filter(result="benchmark").delete()

    def _wait(self, done, cluster: Cluster):
        deadline = time.monotonic() + self.timeout
        while not done():
            cluster.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"The benchmark round did not finish within {self.timeout:g}s.")
            time.sleep(0.02)

    # -- what the database allows ------------------------------------------------

    def commit_rate(self, n: int = 1000) -> float:
        """Single-row transactions per second on the company database, as a session's insert does them."""
        from django.db import transaction

        from demo.models import SessionLog

        with use_company(self.company) as company:
            alias = company.alias
            now = timezone.now()
            t0 = time.perf_counter()
            for _ in range(n):
                with transaction.atomic(using=alias):
                    SessionLog.objects.create(
                        session_id=0, result="commit-rate", start_time=now, stop_time=now, elapsed=now - now
                    )
            seconds = time.perf_counter() - t0
            SessionLog.objects.filter(result="commit-rate").delete()
        return n / seconds

    def _databases(self) -> set[str]:
        with use_company(self.company) as company:
            aliases = {app_settings.REGISTRY_ALIAS, company.alias}
        return {connections[a].settings_dict["NAME"] for a in aliases}

    def _commit_counter(self) -> int | None:
        """Commits so far in the registry and company databases (PostgreSQL only)."""
        conn = connections[app_settings.REGISTRY_ALIAS]
        if conn.vendor != "postgresql":
            return None
        time.sleep(1.1)  # backends report their counts at most once a second
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT COALESCE(SUM(xact_commit), 0) FROM pg_stat_database WHERE datname = ANY(%s)",
                [list(self._databases())],
            )
            return int(cursor.fetchone()[0])


# Transactions each session commits, by design (PostgreSQL runs measure them too): the start
# (row, event and, on the ORM broker, the queue entry); the claim (with its event); the codeunit's
# own transaction; the outcome (with its event); the queue's acknowledgement.
WRITES_PER_SESSION = {"noop": 5, "insert": 5}


def summarise(rounds: list[Round]) -> dict:
    """Medians with min-max per kind, and the session/baseline ratio measured pair by pair."""
    out = {}
    for kind in ALL_KINDS:
        rs = [r.summary() for r in rounds if r.kind == kind]
        if not rs:
            continue
        stats = {}
        for key in rs[0]:
            values = [r[key] for r in rs if isinstance(r[key], (int, float)) and key not in ("n",)]
            if values and key != "kind":
                stats[key] = {"median": round(statistics.median(values), 2), "min": min(values), "max": max(values)}
        out[kind] = stats
    baselines = [r.rate for r in rounds if r.kind == "baseline"]
    for kind in ("noop", "insert"):
        rates = [r.rate for r in rounds if r.kind == kind]
        ratios = [s / b for s, b in zip(rates, baselines, strict=False)]
        if ratios:
            out[kind]["ratio_to_baseline"] = {
                "median": round(statistics.median(ratios), 2),
                "min": round(min(ratios), 2),
                "max": round(max(ratios), 2),
            }
    return out
