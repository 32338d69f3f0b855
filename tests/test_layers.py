"""The engine stands alone: nothing in ``sessions_app`` imports the demo, the benchmark or the project."""

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "sessions_app"
OUTSIDE = ("demo", "bench", "project", "tests")


def imported_modules(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_the_engine_imports_nothing_of_the_demo_the_benchmark_or_the_project():
    offenders = [
        f"{path.relative_to(ENGINE.parent)} imports {name}"
        for path in sorted(ENGINE.rglob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[0] in OUTSIDE
    ]
    assert offenders == []


def test_the_engine_lets_workers_run_no_plain_task_but_its_own_by_default():
    from django.test import override_settings

    from sessions_app.conf import app_settings

    with override_settings():
        from django.conf import settings

        del settings.SESSIONS_ALLOWED_TASKS
        assert app_settings.ALLOWED_TASKS == ("sessions_app.runner.execute",)
