"""The benchmark's project with its control database as ``startproject`` makes one: Django's SQLite defaults.

The tasks_db peer keeps its rows in the control database. The project's own SQLite databases use the
write-ahead log (``project/databases.py``); a project that installs django-tasks-db alone has the rollback
journal. ``DJANGO_SETTINGS_MODULE=bench.plain_sqlite_settings manage.py benchmark_sessions ...`` measures
the peer that way (the sessions' registry and companies keep their own settings). Use a fresh
``SESSIONS_DATA_DIR``: a file once in WAL mode stays in it.
"""

from project.settings import *  # noqa: F403

DATABASES["default"]["OPTIONS"] = {}  # noqa: F405
