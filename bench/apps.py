import os

from django.apps import AppConfig


class BenchConfig(AppConfig):
    """The benchmark: tooling beside the engine, never part of what a project installs."""

    name = "bench"
    label = "bench"
    verbose_name = "Benchmark"

    def ready(self):
        folder = os.environ.get("BENCH_STATEMENT_LOG")
        if folder:
            from . import statement_log

            statement_log.install(folder)
