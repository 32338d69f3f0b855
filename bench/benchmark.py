"""The benchmark behind ``manage.py benchmark_sessions``.

Measured in one run, in alternating rounds, against a qcluster the benchmark
starts itself:

* ``baseline``: bare ``async_task`` calls of a no-op function, with
  django-q2's default result saving (``save_limit=250``);
* ``noop``: ``start_session`` of a codeunit that does nothing;
* ``insert``: ``start_session`` of a codeunit that inserts one row in its company;
* the peers (``bench/peers.py``): the same no-op as a ``@task`` on django-tasks-db and on this
  project's task backend, and as a Celery task without and with a result backend;

and, after each round, one session at a time (``latency``), scheduled
tasks due one after another (``scheduled``: ``not_before`` to start), and a
group of 1,000 no-op members with a completion (``group``: members/s, and the
last member's end to the completion's start).
"""

import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.db import connections
from django.utils import timezone

from sessions_app.api import start_session
from sessions_app.companies import all_companies, use_company
from sessions_app.conf import app_settings
from sessions_app.exceptions import SessionError
from sessions_app.models import BackgroundSession, SessionEvent, SessionGroup, Status

from .procs import Processes, manage

NOOP_CODEUNIT = 50190
INSERT_CODEUNIT = 50191
POPULATED_CODEUNIT = (50192, "Populated")
KINDS = ("baseline", "noop", "insert")
PEERS = ("tasks_db", "tasks_backend", "celery_none", "celery_redis")
ALL_KINDS = (*KINDS, *PEERS, "latency", "scheduled", "group")
# Ratios of rates measured round by round: kind -> the kinds it is divided by.
RATIOS = {"noop": ("baseline", *PEERS), "insert": ("baseline", "noop"), "tasks_backend": ("tasks_db",)}


def noop():
    """The bare django-q2 task of the baseline."""
    return None


def _queue_size() -> int:
    """Tasks in the queue, delivered or not (an ORM queue row stays until it is acknowledged)."""
    from sessions_app import transport

    if transport.uses_orm_broker():
        from django_q.models import OrmQ

        return OrmQ.objects.using(app_settings.REGISTRY_ALIAS).count()
    return transport.broker().queue_size()


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


class Cluster(Processes):
    """A qcluster subprocess for the benchmark, with django-q2's default result saving.

    It keeps its brisk pace between rounds (``SESSIONS_IDLE_AFTER``: an hour), as the peers' workers poll
    at one pace: a round measures throughput, not the first look after a quiet spell (at most
    ``SESSIONS_IDLE_POLL`` seconds, README: Configuration).
    """

    name = "qcluster"

    def __init__(self, workers: int, broker: str, log_path: Path):
        env = {"Q_WORKERS": str(workers), "SESSIONS_BROKER": broker, "Q_SAVE_LIMIT": "250"}
        env["SESSIONS_IDLE_AFTER"] = "3600"
        super().__init__([manage("qcluster")], log_path, env=env)


class Benchmark:
    def __init__(
        self,
        n: int,
        workers: int,
        broker: str,
        company: str | None = None,
        timeout: float = 600,
        peers: dict | None = None,
    ):
        self.n, self.workers, self.broker = n, workers, broker
        self.company = company or all_companies()[0].name
        self.timeout = timeout
        self.vendor = connections[app_settings.REGISTRY_ALIAS].vendor
        self.peers = peers or {}
        self._counts = None  # the last commit counts read (and when), while nothing has run since
        self.idle_commits_per_s: dict[str, float] = {}

    # -- one round of each kind ------------------------------------------------

    def run(self, kind: str, procs: Processes, n: int | None = None, count: bool = True) -> Round:
        """One round of ``kind``, worked by ``procs`` (the qcluster, or the peer's own workers).

        With ``count``, on PostgreSQL, the commits in the databases the kind writes to are counted.
        """
        n = n or self.n
        peer = self.peers.get(kind)
        databases = peer.databases(self) if peer is not None else self.session_databases()
        reading = None
        if count and databases:
            reading = self._counts or self._commit_counts()
        self._counts = None
        if peer is not None:
            result = peer.run(self, n, procs)
        elif kind == "baseline":
            result = self._baseline(n, procs)
        else:
            result = self._sessions(NOOP_CODEUNIT if kind == "noop" else INSERT_CODEUNIT, kind, n, procs)
        if reading is not None:
            before, read_at = reading
            self._counts = after, read_again_at = self._commit_counts()  # also the next round's "before"
            raw = sum(after.get(d, 0) - before.get(d, 0) for d in databases)
            # Take off what the idle workers committed outside the round (the wait for the counts, mostly).
            idle_seconds = max(0, read_again_at - read_at - result.seconds)
            idle = sum(self.idle_commits_per_s.get(d, 0) for d in databases) * idle_seconds
            result.commits = max(0, round(raw - idle))
        return result

    def measure_idle(self) -> dict[str, float]:
        """Commits per second in each database while every worker idles (PostgreSQL only).

        The counts of a round are read when they have all been reported, 11 s after it (PostgreSQL 15+);
        the pollers' commits of that time (a db_worker's polls, a qcluster's heartbeats) are taken off.
        """
        first = self._commit_counts()
        if first is None:
            return {}
        self._counts = second = self._commit_counts()
        seconds = second[1] - first[1]
        self.idle_commits_per_s = {d: round((c - first[0].get(d, 0)) / seconds, 2) for d, c in second[0].items()}
        return self.idle_commits_per_s

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
        self.wait(lambda: tasks.filter(id=last).exists() and _queue_size() <= waiting_before, cluster)
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
        return self.wait_sessions(kind, ids, start_ms, t0, cluster)

    def wait_sessions(self, kind: str, ids: list[int], start_ms: list[float], t0: float, cluster) -> Round:
        """Wait for the sessions ``ids`` (started since ``t0``) to finish; their round, once they all succeeded."""
        sessions = BackgroundSession.objects.filter(id__gte=ids[0], id__lte=ids[-1])
        self.wait(lambda: not sessions.filter(status__in=(Status.QUEUED, Status.RUNNING)).exists(), cluster)
        seconds = time.perf_counter() - t0
        rows = list(sessions.values_list("status", "created_at", "started_at", "finished_at"))
        failed = [r for r in rows if r[0] != Status.SUCCEEDED]
        if failed:
            raise RuntimeError(f"{len(failed)} benchmark sessions did not succeed: {failed[:3]}")
        self._cleanup(ids)
        n = len(ids)
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
        self._counts = None
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

        self._counts = None

        first = clock.now() + timedelta(seconds=1)
        ids = [
            create_task(NOOP_CODEUNIT, company=self.company, not_before=first + timedelta(seconds=spacing * i))
            for i in range(n)
        ]
        tasks = ScheduledTask.objects.filter(pk__in=ids)
        t0 = time.perf_counter()
        self.wait(lambda: not tasks.exclude(status="succeeded").exists(), cluster)
        seconds = time.perf_counter() - t0
        rows = list(tasks.values_list("not_before", "session_id"))
        started = dict(BackgroundSession.objects.filter(pk__in=[s for _, s in rows]).values_list("id", "started_at"))
        delays = [(started[s] - nb).total_seconds() * 1000 for nb, s in rows]
        tasks.delete()
        self._cleanup(sorted(started))
        return Round("scheduled", n, seconds, n / seconds, queue_to_start_ms=delays)

    def group(self, cluster: Cluster, n: int = 1000) -> Round:
        """A group of ``n`` no-op members and a no-op completion: members/s, and the last end to the completion's start.

        Its rate is members per second from the start to the last member's end; its queue→start is the time
        from the last member's end to the completion's start (the decision and one queue hop).
        """
        from sessions_app.api import start_group, wait_group

        self._counts = None
        t0 = time.perf_counter()
        began = timezone.now()
        group = start_group(NOOP_CODEUNIT, params=[{}] * n, company=self.company, then=NOOP_CODEUNIT)
        start_ms = [(time.perf_counter() - t0) * 1000 / n] * n  # the one call, per member
        deadline = time.monotonic() + self.timeout
        while True:
            cluster.check()
            try:
                group = wait_group(group.id, timeout=0)
                break
            except SessionError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Group {group.id} did not end within {self.timeout}s.") from None
                time.sleep(0.02)
        members = BackgroundSession.objects.filter(group_id=group.id)
        if group.status != "succeeded" or members.exclude(status=Status.SUCCEEDED).exists():
            raise RuntimeError(f"Benchmark group {group.id} {group.status}: {group.message}")
        last_end = max(members.values_list("finished_at", flat=True))
        completion = BackgroundSession.objects.get(pk=group.completion_id)
        seconds = (last_end - began).total_seconds()
        ids = sorted([*members.values_list("id", flat=True), completion.id])
        self._cleanup(ids)
        SessionGroup.objects.filter(pk=group.id).delete()
        return Round(
            "group",
            n,
            seconds,
            n / seconds,
            start_ms,
            queue_to_start_ms=[(completion.started_at - last_end).total_seconds() * 1000],
        )

    def _cleanup(self, ids):
        SessionEvent.objects.filter(session_id__gte=ids[0], session_id__lte=ids[-1]).delete()
        BackgroundSession.objects.filter(id__gte=ids[0], id__lte=ids[-1]).delete()
        from demo.models import SessionLog

        with use_company(self.company):
            SessionLog.objects.filter(result="benchmark").delete()

    def wait(self, done, procs: Processes):
        """Poll ``done`` every 20 ms (the same for every kind) while ``procs`` stay alive."""
        deadline = time.monotonic() + self.timeout
        while not done():
            procs.check()
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

    def session_databases(self) -> set[str]:
        """The databases a session writes to: the registry and its company's."""
        with use_company(self.company) as company:
            aliases = {app_settings.REGISTRY_ALIAS, company.alias}
        return {connections[a].settings_dict["NAME"] for a in aliases}

    def _commit_counts(self) -> tuple[dict[str, int], float] | None:
        """Commits so far in each database of the run, and when they were read (PostgreSQL only).

        Read once every backend has reported them."""
        conn = connections[app_settings.REGISTRY_ALIAS]
        if conn.vendor != "postgresql":
            return None
        conn.ensure_connection()
        # A backend reports its counts when it goes idle, at most once a second; on PostgreSQL 15+ counts
        # held back that way are reported after 10 s idle (PGSTAT_IDLE_INTERVAL): wait for the last ones.
        time.sleep(11 if conn.pg_version >= 150000 else 1.1)
        names = sorted({c.settings_dict["NAME"] for c in connections.all() if c.vendor == "postgresql"})
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT datname, xact_commit FROM pg_stat_database WHERE datname = ANY(%s)", [names])
            return dict(cursor.fetchall()), time.monotonic()


# Transactions each session commits, by design (PostgreSQL runs measure them too): the start
# (row and event; with the ORM broker the row is the queue entry); the claim (with its event); the
# codeunit's own transaction (with its fence row); the outcome (with its event). The broker's note of
# which cluster took a batch of sessions adds one per batch of up to Q_BULK.
WRITES_PER_SESSION = {"noop": 4, "insert": 4}


def summarise(rounds: list[Round]) -> dict:
    """Medians with min-max per kind, and the ratios of rates measured round by round (``RATIOS``)."""
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
    for kind, others in RATIOS.items():
        rates = [r.rate for r in rounds if r.kind == kind]
        for other in others:
            against = [r.rate for r in rounds if r.kind == other]
            ratios = [a / b for a, b in zip(rates, against, strict=False)]
            if ratios:
                out[kind][f"ratio_to_{other}"] = {
                    "median": round(statistics.median(ratios), 2),
                    "min": round(min(ratios), 2),
                    "max": round(max(ratios), 2),
                }
    return out
