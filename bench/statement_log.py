"""A statement log for the benchmark's own processes: every SQL statement Django runs, and every commit.

``BenchConfig.ready`` installs it when ``BENCH_STATEMENT_LOG`` names a folder (``idle_queries`` and
``session_statements`` set it for the qcluster they start; ``session_statements`` also installs it in
its own process, the producer): each process appends ``<time> <alias> <statement>`` lines to a file
named for its role and pid. A statement run outside a transaction (autocommit: its own transaction on
the server) starts with ``~``; an explicit commit is the line ``COMMIT``. Never installed otherwise.
"""

import os
import time
from pathlib import Path

from django.db.backends.signals import connection_created

COMMIT = "COMMIT"
AUTOCOMMIT = "~"


class Log:
    """Appends what one process runs to ``<folder>/<role>-<pid>``: an execute wrapper and a commit hook."""

    def __init__(self, folder: str | Path, role: str = "cluster"):
        self.path, self.role = Path(folder), role

    def write(self, alias: str, text: str) -> None:
        with open(self.path / f"{self.role}-{os.getpid()}", "a") as f:
            f.write(f"{time.time():.3f} {alias} {text}\n")

    def __call__(self, execute, sql, params, many, context):
        connection = context["connection"]
        auto = AUTOCOMMIT if connection.autocommit and not connection.in_atomic_block else ""
        self.write(connection.alias, auto + " ".join(str(sql).split())[:1000])  # long enough to name every table
        return execute(sql, params, many, context)

    def attach(self, connection) -> None:
        if self not in connection.execute_wrappers:
            connection.execute_wrappers.append(self)
        if "_commit" not in vars(connection):  # once per connection object: it outlives reconnects
            commit = connection._commit

            def logged_commit():
                self.write(connection.alias, COMMIT)
                return commit()

            connection._commit = logged_commit

    def detach(self, connection) -> None:
        if self in connection.execute_wrappers:
            connection.execute_wrappers.remove(self)
        vars(connection).pop("_commit", None)


def install(folder: str, role: str = "cluster") -> None:
    """Log every connection this process opens from now on."""
    log = Log(folder, role)
    connection_created.connect(lambda sender, connection, **kwargs: log.attach(connection), weak=False)


def read(folder: Path) -> list[tuple[float, str, str]]:
    """Every logged line as ``(time, alias, statement)``."""
    return [(at, alias, sql) for at, _, alias, sql in read_with_roles(folder)]


def read_with_roles(folder: Path) -> list[tuple[float, str, str, str]]:
    """Every logged line as ``(time, role, alias, statement)``."""
    rows = []
    for file in folder.iterdir():
        role = file.name.rsplit("-", 1)[0]
        for line in file.read_text().splitlines():
            at, alias, sql = line.split(" ", 2)
            rows.append((float(at), role, alias, sql))
    return rows
