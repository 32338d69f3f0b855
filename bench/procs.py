"""The worker processes a benchmark run starts and stops itself: the qcluster and each peer's workers.

Every system measured gets its own processes, started before the first round and stopped after the
last, so each round runs beside the same idle neighbours and no round pays for a start-up.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings

# What every worker process of the benchmark runs with: no query log, quiet logs.
QUIET_ENV = {"DJANGO_DEBUG": "0", "SESSIONS_LOG_LEVEL": "WARNING", "Q_LOG_LEVEL": "WARNING"}


def manage(*args: str) -> list[str]:
    """A ``manage.py`` command line with this interpreter (so with this venv and settings module)."""
    return [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args]


class Processes:
    """Subprocesses started on ``__enter__`` and stopped with SIGTERM (then SIGKILL) on ``__exit__``."""

    name = "worker"

    def __init__(self, commands: list[list[str]], log_path: Path, env: dict[str, str] | None = None):
        self.commands, self.log_path = commands, log_path
        self.env = dict(os.environ, **QUIET_ENV, **(env or {}))
        self.procs: list[subprocess.Popen] = []

    def __enter__(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        for command in self.commands:
            self.procs.append(
                subprocess.Popen(  # noqa: S603
                    command,
                    cwd=settings.BASE_DIR,
                    env=self.env,
                    stdout=self.log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # each stops its own workers gracefully
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.log.close()

    def check(self):
        if any(proc.poll() is not None for proc in self.procs):
            raise RuntimeError(f"The benchmark's {self.name} exited; see {self.log_path}")
