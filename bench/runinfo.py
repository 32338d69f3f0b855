"""What a benchmark run records about itself, so its report can say how to run it again and where."""

import importlib.metadata
import os
import platform
import shlex
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# The environment that decides what a run measures (the databases, the broker, the queue's settings).
RELEVANT_ENV = (
    "DJANGO_SETTINGS_MODULE",
    "SESSIONS_DATA_DIR",
    "DATABASE_URL",
    "REGISTRY_DATABASE_URL",
    "COMPANY_DATABASE_URL",
    "SESSIONS_COMPANIES",
    "SESSIONS_BROKER",
    "REDIS_URL",
    "CONN_MAX_AGE",
    "SQLITE_TIMEOUT",
    "Q_POLL",
    "Q_BULK",
    "Q_RECYCLE",
)
PACKAGES = ("Django", "django-q2", "django-tasks", "django-tasks-db", "celery", "redis", "psycopg")


def without_password(url: str) -> str:
    """``url`` with its password left out (the rest is needed to run the command again)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=user + host))


def command(argv: list[str] | None = None, environ=os.environ) -> dict:
    """The command line and the environment of this run, passwords left out."""
    argv = list(sys.argv if argv is None else argv)
    if argv:
        argv[0] = Path(argv[0]).name  # manage.py, wherever it was run from
    env = {}
    for key in sorted(environ):
        if key in RELEVANT_ENV or (key.startswith("COMPANY_") and key.endswith("_DATABASE_URL")):
            env[key] = without_password(environ[key]) if "URL" in key else environ[key]
    if env.get("DJANGO_SETTINGS_MODULE") == "project.settings":  # manage.py's own default
        del env["DJANGO_SETTINGS_MODULE"]
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd() + os.sep) else "python"
    line = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()), python, *map(shlex.quote, argv)])
    return {"argv": argv, "env": env, "python": sys.executable, "line": line}


def versions(used: tuple[str, ...] = PACKAGES) -> dict:
    """Versions of the packages measured (those installed), and of the database servers."""
    out = {"python": platform.python_version()}
    for name in used:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    from django.db import connections

    for conn in connections.all():
        if conn.vendor == "sqlite":
            import sqlite3

            out["sqlite"] = sqlite3.sqlite_version
        elif conn.vendor == "postgresql":
            conn.ensure_connection()
            number = conn.pg_version
            out["postgresql"] = f"{number // 10000}.{number % 10000}"
    return out


def redis_version(url: str) -> str | None:
    import redis

    try:
        return redis.Redis.from_url(url, socket_connect_timeout=2).info("server").get("redis_version")
    except redis.RedisError:
        return None


def machine() -> dict:
    """The CPU, its cores and the memory, as Linux reports them."""
    out = {"arch": platform.machine(), "cores": os.cpu_count(), "cpu": None, "memory_gib": None}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                out["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                out["memory_gib"] = round(int(line.split()[1]) / 2**20)
                break
    except OSError:
        pass
    return out
