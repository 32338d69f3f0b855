"""A statement log for the benchmark's own processes: every SQL statement Django runs, one line each.

``BenchConfig.ready`` installs it when ``BENCH_STATEMENT_LOG`` names a folder (only ``idle_queries``
sets it, for the qcluster it starts): each process appends ``<time> <alias> <statement>`` lines to a
file named for its pid. Never installed otherwise.
"""

import os
import time
from pathlib import Path

from django.db.backends.signals import connection_created


def install(folder: str) -> None:
    path = Path(folder)

    def log(execute, sql, params, many, context):
        with open(path / str(os.getpid()), "a") as f:
            f.write(f"{time.time():.3f} {context['connection'].alias} {' '.join(str(sql).split())[:120]}\n")
        return execute(sql, params, many, context)

    def on_connect(sender, connection, **kwargs):
        if log not in connection.execute_wrappers:
            connection.execute_wrappers.append(log)

    connection_created.connect(on_connect, weak=False)


def read(folder: Path) -> list[tuple[float, str, str]]:
    """Every logged statement as ``(time, alias, statement)``."""
    rows = []
    for file in folder.iterdir():
        for line in file.read_text().splitlines():
            at, alias, sql = line.split(" ", 2)
            rows.append((float(at), alias, sql))
    return rows
