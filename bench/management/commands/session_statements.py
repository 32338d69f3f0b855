"""``manage.py session_statements``: where each statement and each commit of a no-op session goes."""

import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import connections

from bench import runinfo, statement_log
from bench.benchmark import INSERT_CODEUNIT, NOOP_CODEUNIT, Cluster
from sessions_app.api import start_session
from sessions_app.companies import all_companies
from sessions_app.management.commands._base import SessionsCommand, positive_int
from sessions_app.models import BackgroundSession, Status


def kind_of(sql: str) -> str:
    """``SELECT``, ``INSERT``, ``COMMIT``...: the statement's first word."""
    return sql.split(" ", 1)[0].upper().strip("(")


class Command(SessionsCommand):
    help = (
        "Start a qcluster that logs every SQL statement and commit, start --sessions sessions of a no-op (or "
        "insert) codeunit, and say per session which process ran what, on which database: the statements, "
        "the commits and the round trips a session costs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sessions", type=positive_int, default=1000, metavar="N")
        parser.add_argument("--workers", type=positive_int, default=2)
        parser.add_argument("--insert", action="store_true", help="the codeunit that inserts one row, not the no-op")
        parser.add_argument("--top", type=int, default=12, help="the most frequent statements to list")
        parser.add_argument("--out", help="also write the figures as JSON to this file (benchmark_report reads it)")

    def handle(self, *args, **options):
        n, codeunit = options["sessions"], INSERT_CODEUNIT if options["insert"] else NOOP_CODEUNIT
        company = all_companies()[0].name
        settings.DEBUG = False
        call_command("migrate_all", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
        with tempfile.TemporaryDirectory(prefix="session-statements-") as tmp:
            folder = Path(tmp) / "log"
            folder.mkdir()
            cluster = Cluster(options["workers"], settings.SESSIONS_BROKER, Path(tmp) / "qcluster.log")
            cluster.env["BENCH_STATEMENT_LOG"] = str(folder)
            with cluster:
                self._run(cluster, codeunit, company, min(n, 50))  # warm up: workers and connections ready
                producer = statement_log.Log(folder, "producer")
                for connection in connections.all():
                    connection.ensure_connection()
                    producer.attach(connection)
                t0 = time.time()
                try:
                    ids = [start_session(codeunit, company=company, debug=False).id for _ in range(n)]
                finally:
                    for connection in connections.all():
                        producer.detach(connection)
                self._wait(cluster, ids)
                t1 = time.time()
            rows = [r for r in statement_log.read_with_roles(folder) if t0 <= r[0] <= t1]
        result = self._summarise(rows, n, t1 - t0, options)
        if options["out"]:
            Path(options["out"]).write_text(json.dumps(result, indent=2) + "\n")
        self._print(result)

    def _run(self, cluster, codeunit, company, n):
        self._wait(cluster, [start_session(codeunit, company=company, debug=False).id for _ in range(n)])

    def _wait(self, cluster, ids, timeout=600):
        active = BackgroundSession.objects.filter(id__in=ids, status__in=(Status.QUEUED, Status.RUNNING))
        deadline = time.monotonic() + timeout
        while active.exists():
            cluster.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{active.count()} sessions did not finish within {timeout} s")
            time.sleep(0.05)

    def _summarise(self, rows, n, seconds, options) -> dict:
        auto = statement_log.AUTOCOMMIT
        by = Counter()
        top = Counter()
        statements = commits = transactions = 0
        for _, role, alias, sql in rows:
            if sql == statement_log.COMMIT:
                commits += 1
                transactions += 1
                by[(role, alias, "COMMIT")] += 1
                continue
            sql = sql.removeprefix(auto) if (alone := sql.startswith(auto)) else sql
            kind = kind_of(sql)
            if kind != "BEGIN":  # SQLite's BEGIN is a statement Django runs; psycopg's is not seen here
                statements += 1
                commits += alone  # a statement outside a transaction commits by itself on the server
            by[(role, alias, kind)] += 1
            top[(role, alias, sql[:100])] += 1
        per = lambda count: round(count / n, 2)  # noqa: E731
        return {
            "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "command": runinfo.command(),
            "databases": "+".join(sorted({c.vendor for c in connections.all()})),
            "broker": settings.SESSIONS_BROKER,
            "workers": options["workers"],
            "codeunit": "insert" if options["insert"] else "noop",
            "sessions": n,
            "seconds": round(seconds, 2),
            "statements_per_session": per(statements),
            "commits_per_session": per(commits),
            # PostgreSQL: psycopg sends BEGIN before a transaction's first statement, and COMMIT, each a round
            # trip of its own (SQLite has no round trips: its calls stay in the process).
            "round_trips_per_session": per(statements + 2 * transactions),
            "by_part": [
                {"role": role, "alias": alias, "statement": kind, "per_session": per(count)}
                for (role, alias, kind), count in sorted(by.items(), key=lambda i: (i[0][0], i[0][1], -i[1]))
            ],
            "top": [
                {"role": role, "alias": alias, "sql": sql, "per_session": per(count)}
                for (role, alias, sql), count in top.most_common(options["top"])
            ],
        }

    def _print(self, r: dict) -> None:
        w = self.stdout.write
        w(
            f"{r['sessions']} {r['codeunit']} sessions on {r['databases']} + {r['broker']} broker: per session "
            f"{r['statements_per_session']:g} statements, {r['commits_per_session']:g} commits, "
            f"{r['round_trips_per_session']:g} round trips (in {r['seconds']:g} s)"
        )
        for row in r["by_part"]:
            w(f"  {row['per_session']:6.2f}  {row['role']:9} {row['alias']:10} {row['statement']}")
        w("most frequent statements, per session:")
        for row in r["top"]:
            w(f"  {row['per_session']:6.2f}  {row['role']:9} {row['alias']:10} {row['sql']}")
