"""Layers depend one way: engine <- scheduling <- (demo, benchmark, project), with no import cycle.

Every import counts, at module level or inside a function: a lazy import is
still a dependency.
"""

import ast
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
PACKAGE = BASE / "sessions_app"
SCHEDULING = "sessions_app.scheduling"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(BASE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def _imports(module: str) -> set[str]:
    """Every name ``module`` imports, absolute (``from . import x`` gives both the package and ``package.x``)."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                prefix = ".".join([*base, *([node.module] if node.module else [])])
            else:
                prefix = node.module
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
    return names


GRAPH = {module: {name for name in _imports(module) if name in MODULES and name != module} for module in MODULES}


def test_the_engine_never_imports_the_scheduling_layer():
    offenders = sorted(
        f"{module} imports {name}"
        for module, names in GRAPH.items()
        if not module.startswith(SCHEDULING)
        for name in names
        if name.startswith(SCHEDULING)
    )
    assert offenders == []


def test_the_package_imports_nothing_of_the_demo_the_benchmark_or_the_project():
    offenders = sorted(
        f"{module} imports {name}"
        for module in MODULES
        for name in _imports(module)
        if name.split(".")[0] in ("demo", "bench", "project", "tests")
    )
    assert offenders == []


def test_there_is_no_import_cycle():
    """Tarjan's strongly connected components over the package's modules: none may hold two."""
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for dependency in GRAPH[module]:
            if dependency not in index:
                visit(dependency)
                low[module] = min(low[module], low[dependency])
            elif dependency in on_stack:
                low[module] = min(low[module], index[dependency])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert cycles == []


def test_the_engine_lets_workers_run_no_plain_task_but_its_own_by_default():
    from django.conf import settings
    from django.test import override_settings

    from sessions_app.conf import app_settings

    with override_settings():
        del settings.SESSIONS_ALLOWED_TASKS
        assert app_settings.ALLOWED_TASKS == ("sessions_app.runner.execute",)


def _alternatives(tree) -> list[list[list[ast.ImportFrom]]]:
    """Imports grouped by ``try: ... except ImportError: ...``: one of the branches must resolve.

    Every other import is a group of one branch.
    """
    groups, grouped = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError") for h in node.handlers
        ):
            branches = [node.body, *(h.body for h in node.handlers)]
            found = [
                [n for stmt in branch for n in ast.walk(stmt) if isinstance(n, ast.ImportFrom)] for branch in branches
            ]
            grouped.update(id(n) for branch in found for n in branch)
            groups.append(found)
    groups.extend([[n]] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and id(n) not in grouped)
    return groups


def test_every_import_in_the_package_the_demo_and_the_benchmark_resolves():
    """Imports inside functions run late: a moved module must not leave one behind that fails then.

    Of a ``try``/``except ImportError`` pair (``django.tasks`` or its backport) one branch must resolve.
    """
    import importlib
    import importlib.util

    def unresolved(module, package, node) -> list[str]:
        base = package[: len(package) - node.level + 1] if node.level else []
        target = ".".join([*base, *([node.module] if node.module else [])])
        try:
            imported = importlib.import_module(target)
        except ImportError as e:
            return [f"{module}: {target}: {e}"]
        return [
            f"{module}: {target}.{alias.name}"
            for alias in node.names
            if alias.name != "*"  # a star import names nothing: the module resolving is the check
            and not hasattr(imported, alias.name)
            and importlib.util.find_spec(f"{target}.{alias.name}") is None
        ]

    broken = []
    for folder in ("sessions_app", "demo", "bench"):
        for path in sorted((BASE / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            module = _module_name(path)
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            for branches in _alternatives(ast.parse(path.read_text(), filename=str(path))):
                failures = [[f for node in branch for f in unresolved(module, package, node)] for branch in branches]
                if all(failures):
                    broken.extend(failures[0])
    assert broken == []


def test_only_the_transport_imports_django_q():
    """django-q2 behind one package: an upgrade of it touches ``sessions_app/transport/`` alone."""
    offenders = sorted(
        f"{module} imports {name}"
        for module in MODULES
        if not module.startswith("sessions_app.transport")
        for name in _imports(module)
        if name.split(".")[0] == "django_q"
    )
    assert offenders == []


WEB = ("admin", "views", "forms", "urls", "middleware", "templatetags", "management", "notices", "errors")


def _is_web(module: str) -> bool:
    parts = module.split(".")[1:]
    return bool(parts) and (parts[0] in WEB or (parts[0] == "scheduling" and len(parts) > 1 and parts[1] in WEB))


def test_the_engine_imports_no_web_module():
    """The engine (and the scheduling layer's engine) never imports the admin, views, forms, URLs, middleware,
    template tags or commands: they sit on it, not under it."""
    offenders = sorted(
        f"{module} imports {name}"
        for module, names in GRAPH.items()
        if not _is_web(module)
        for name in names
        if _is_web(name)
    )
    assert offenders == []
