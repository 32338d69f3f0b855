"""``manage.py idle_queries``: the statements an idle qcluster makes per second, and which they are."""

import tempfile
import time
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand

from bench import statement_log
from bench.procs import Processes, manage


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
            rows = [r for r in statement_log.read(folder) if started + warm_up <= r[0] < started + warm_up + seconds]
        self.stdout.write(
            f"{len(rows) / seconds:.2f} statements/s from an idle {options['workers']}-worker cluster "
            f"over {seconds:g} s (after {warm_up:g} s)"
        )
        for (alias, sql), n in Counter((alias, sql[:80]) for _, alias, sql in rows).most_common(options["top"]):
            self.stdout.write(f"{n / seconds:7.2f}/s  {alias:10} {sql}")
