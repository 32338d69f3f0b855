"""Settings for the demo project, driven by environment variables.

See ``project/databases.py`` for the database variables, and README.md for
the full list.
"""

import importlib.util
import os
from pathlib import Path

from project import databases

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("SECRET_KEY", "insecure-demo-key-change-me-in-production")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_q",
    "sessions_app",
    "sessions_app.scheduling",
    "demo",
    "bench",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "sessions_app.middleware.CurrentCompanyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sessions_app.middleware.current_company_context",
            ],
        },
    },
]

WSGI_APPLICATION = "project.wsgi.application"

DATABASES, SESSIONS_COMPANIES = databases.build(BASE_DIR)
DATABASE_ROUTERS = ["sessions_app.companies.CompanyRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
LOGIN_URL = "sessions_app:login"

# --- background sessions -------------------------------------------------

SESSIONS_DEBUG = os.environ.get("SESSIONS_DEBUG", "0") == "1"
SESSIONS_BROKER = os.environ.get("SESSIONS_BROKER", "orm")  # "orm" or "redis"
SESSIONS_HOST = os.environ.get("SESSIONS_HOST", "")  # this host's name in host:pid; default: the machine's
SESSIONS_DEMO_SLEEP = float(os.environ.get("SESSIONS_DEMO_SLEEP", "3"))
# Seconds without work before the cluster looks at its idle pace (the benchmark's cluster never does).
SESSIONS_IDLE_AFTER = float(os.environ.get("SESSIONS_IDLE_AFTER", "10"))
# The benchmark's bare django-q2 baseline is the only plain task this project lets a worker run.
SESSIONS_ALLOWED_TASKS = ("sessions_app.runner.execute", "bench.benchmark.noop")

# Django's task API runs @task functions as background sessions (django.tasks on Django 6,
# the django-tasks backport on 5.2 when it is installed).
if importlib.util.find_spec("django.tasks") or importlib.util.find_spec("django_tasks"):
    TASKS = {
        "default": {"BACKEND": "sessions_app.backends.SessionsBackend"},
        "cronus_uk": {"BACKEND": "sessions_app.backends.SessionsBackend", "OPTIONS": {"COMPANY": "CRONUS UK"}},
    }
    # The benchmark's tasks_db peer: the same @task on django-tasks-db, when it is installed
    # (pip install -e '.[bench]'). Its table lives in the control database (CompanyRouter: default).
    if importlib.util.find_spec("django_tasks_db"):
        INSTALLED_APPS.append("django_tasks_db")
        TASKS["tasks_db"] = {"BACKEND": "django_tasks_db.DatabaseBackend"}

_q_cluster = {
    "name": "sessions",
    "workers": int(os.environ.get("Q_WORKERS", "2")),
    # A session hands its own timeout to each task; this is the ceiling.
    "timeout": 12 * 3600 + 60,
    # Redelivery only after every possible timeout has passed; a redelivered
    # task is a no-op anyway because the worker claims the session row once.
    "retry": 24 * 3600 + 600,
    "max_attempts": 1,
    "ack_failures": True,
    # Sessions are never saved by django-q2 (the registry records them); this
    # applies to plain async_task calls only. 250 is django-q2's default.
    "save_limit": int(os.environ.get("Q_SAVE_LIMIT", "-1")),
    "poll": float(os.environ.get("Q_POLL", "0.1")),
    # Tasks the ORM broker's pusher takes per query.
    "bulk": int(os.environ.get("Q_BULK", "10")),
    # Tasks a worker process runs before it is replaced (releases memory; costs a fork).
    "recycle": int(os.environ.get("Q_RECYCLE", "5000")),
    "catch_up": False,
    "label": "Task queue",
}
if SESSIONS_BROKER == "redis":
    # Bounded waits: a Redis that is down or hung fails a start in seconds, not never.
    _q_cluster["redis"] = databases.with_query_defaults(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), socket_connect_timeout="2", socket_timeout="10"
    )
    _q_cluster["broker_class"] = "sessions_app.brokers.GuardedRedis"
else:
    _q_cluster["orm"] = "registry"
    _q_cluster["broker_class"] = "sessions_app.brokers.GuardedORM"
Q_CLUSTER = _q_cluster

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "sessions_app": {"handlers": ["console"], "level": os.environ.get("SESSIONS_LOG_LEVEL", "INFO")},
        "django-q": {"handlers": ["console"], "level": os.environ.get("Q_LOG_LEVEL", "INFO"), "propagate": False},
    },
}
