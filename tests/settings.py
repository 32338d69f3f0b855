"""Test settings: the project's settings with test databases that a qcluster subprocess can share.

Test database names equal their working names (SQLite files under
``var/test``, ``test_*`` databases on PostgreSQL), so a ``qcluster`` started
with these settings works on exactly the databases pytest-django creates.
"""

import os
from pathlib import Path

_BASE = Path(__file__).resolve().parent.parent
os.environ.setdefault("SESSIONS_DATA_DIR", str(_BASE / "var" / "test"))
# Under pytest-xdist each worker has databases of its own (SQLite files in a folder of its own,
# PostgreSQL databases named for it), named here rather than by pytest-django so that the
# manage.py processes a test starts (they inherit the worker's environment) open the same ones.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _XDIST_WORKER and Path(os.environ["SESSIONS_DATA_DIR"]).name != _XDIST_WORKER:
    os.environ["SESSIONS_DATA_DIR"] = str(Path(os.environ["SESSIONS_DATA_DIR"]) / _XDIST_WORKER)
# A worker blocked behind a caller's write lock gives up after this many seconds.
os.environ.setdefault("SQLITE_TIMEOUT", "5")
os.environ.setdefault("SESSIONS_DEMO_SLEEP", "0.2")

from project.settings import *  # noqa: E402,F403
from project.settings import DATABASES, INSTALLED_APPS  # noqa: E402

for _cfg in DATABASES.values():
    if _cfg["ENGINE"] != "django.db.backends.sqlite3" and not str(_cfg["NAME"]).startswith("test_"):
        _cfg["NAME"] = f"test_{_cfg['NAME']}"
        if _XDIST_WORKER:
            _cfg["NAME"] = f"{_cfg['NAME']}_{_XDIST_WORKER}"
    _cfg["TEST"] = {"NAME": _cfg["NAME"]}

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
if _XDIST_WORKER:
    Q_CLUSTER = {**Q_CLUSTER, "name": f"{Q_CLUSTER['name']}-{_XDIST_WORKER}"}  # noqa: F405  (a Redis list each)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Sessions whose task died with a killed cluster are queued again this soon.
SESSIONS_REQUEUE_AFTER = __import__("datetime").timedelta(seconds=float(os.environ.get("SESSIONS_REQUEUE_AFTER", "20")))

# The scheduler reads a clock the tests can move (tests/clock.py), and looks often.
SESSIONS_CLOCK = "tests.clock.now"

# A silent worker is looked at sooner, so the fence tests need not wait 15 s for each verdict.
SESSIONS_LOST_AFTER = 6.0
SESSIONS_HEARTBEAT_INTERVAL = 1.0
SESSIONS_MAINTENANCE_INTERVAL = 1.0
SESSIONS_SCHEDULER_INTERVAL = 0.2
# An idle cluster's slower looks (SESSIONS_IDLE_AFTER still 10 s), shortened so a test after a quiet spell waits little.
SESSIONS_IDLE_POLL = 0.5
SESSIONS_SCHEDULER_IDLE_INTERVAL = 0.5
