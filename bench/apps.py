from django.apps import AppConfig


class BenchConfig(AppConfig):
    """The benchmark: tooling beside the engine, never part of what a project installs."""

    name = "bench"
    label = "bench"
    verbose_name = "Benchmark"
