"""``manage.py idle_queries``: the statements an idle qcluster makes per second, and which they are."""

import json
import tempfile
import time
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections

from bench import runinfo, statement_log
from bench.procs import Processes, manage

# Which part of the cluster a statement belongs to, by the first table it names (in this order).
PARTS = (
    ("django_q_ormq", "broker"),
    ("sessions_app_scheduledtask", "dispatcher"),
    ("sessions_app_jobqueueentry", "dispatcher"),
    ("sessions_app_clusterbeat", "cluster beat"),
    ("django_q_schedule", "django-q2's schedules"),
    ("sessions_app_backgroundsession", "checks"),
    ("sessions_app_sessiongroup", "checks"),
    ("sessions_app_sessionfence", "checks"),
)


def part_of(sql: str) -> str:
    """The cluster part that runs ``sql``: ``broker``, ``dispatcher``, ``checks``... or ``other``."""
    for table, part in PARTS:
        if table in sql:
            return part
    return "other"


class Command(BaseCommand):
    help = (
        "Start a qcluster on this project's databases with nothing to do, wait --warm-up seconds, then count the SQL "
        "statements all its processes run in the next --seconds seconds (Redis commands are not statements)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=30.0, help="length of the counted window (30)")
        parser.add_argument("--warm-up", type=float, default=15.0, help="seconds before counting starts (15)")
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--top", type=int, default=8, help="the most frequent statements to list")
        parser.add_argument("--out", help="also write the figures as JSON to this file (benchmark_report reads it)")

    def handle(self, *args, **options):
        seconds, warm_up = options["seconds"], options["warm_up"]
        with tempfile.TemporaryDirectory(prefix="idle-queries-") as tmp:
            folder = Path(tmp) / "log"
            folder.mkdir()
            env = {"BENCH_STATEMENT_LOG": str(folder), "Q_WORKERS": str(options["workers"])}
            with Processes([manage("qcluster")], Path(tmp) / "qcluster.log", env=env) as cluster:
                started = time.time()
                time.sleep(warm_up + seconds)
                cluster.check()
            logged = [r for r in statement_log.read(folder) if started + warm_up <= r[0] < started + warm_up + seconds]
        rows = [(at, alias, sql.removeprefix(statement_log.AUTOCOMMIT)) for at, alias, sql in logged]
        rows = [r for r in rows if r[2] != statement_log.COMMIT]
        parts = Counter(part_of(sql) for _, _, sql in rows)
        top = Counter((alias, sql[:80]) for _, alias, sql in rows).most_common(options["top"])
        result = {
            "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "command": runinfo.command(),
            "databases": "+".join(sorted({c.vendor for c in connections.all()})),
            "broker": settings.SESSIONS_BROKER,
            "workers": options["workers"],
            "seconds": seconds,
            "warm_up": warm_up,
            "statements_per_s": round(len(rows) / seconds, 2),
            "parts_per_s": {part: round(n / seconds, 2) for part, n in parts.most_common()},
            "top": [{"per_s": round(n / seconds, 2), "alias": alias, "sql": sql} for (alias, sql), n in top],
        }
        if options["out"]:
            Path(options["out"]).write_text(json.dumps(result, indent=2) + "\n")
        self.stdout.write(
            f"{result['statements_per_s']:.2f} statements/s from an idle {options['workers']}-worker cluster "
            f"over {seconds:g} s (after {warm_up:g} s): "
            + ", ".join(f"{part} {rate:.2f}" for part, rate in result["parts_per_s"].items())
        )
        for row in result["top"]:
            self.stdout.write(f"{row['per_s']:7.2f}/s  {row['alias']:10} {row['sql']}")
