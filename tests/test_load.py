"""Load: four processes start 500 sessions each while a two-worker qcluster runs them."""

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from demo.models import SessionLog
from sessions_app.companies import all_companies
from sessions_app.models import BackgroundSession, SessionEvent
from tests.conftest import BASE_DIR, wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.load,
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("empty_queue"),
]

PROCESSES = 4
PER_PROCESS = int(os.environ.get("LOAD_SESSIONS_PER_PROCESS", "500"))


def test_every_session_runs_exactly_once_under_load(cluster):
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", SESSIONS_LOG_LEVEL="WARNING")
    procs = [
        subprocess.Popen(
            [sys.executable, str(BASE_DIR / "tests" / "load.py"), str(PER_PROCESS), "Insert Row"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()[-2000:]
        ids += json.loads(out)
    total = PROCESSES * PER_PROCESS
    assert len(ids) == len(set(ids)) == total

    active = BackgroundSession.objects.filter(status__in=("pending", "queued", "running"))
    wait_until(lambda: not active.exists(), timeout=900, interval=0.5, message="every session to finish")

    statuses = Counter(BackgroundSession.objects.filter(id__in=ids).values_list("status", flat=True))
    assert statuses == {"succeeded": total}
    per_company = Counter(BackgroundSession.objects.filter(id__in=ids).values_list("company", flat=True))
    assert set(per_company) == {c.name for c in all_companies()}
    for company in all_companies():
        rows = list(SessionLog.objects.using(company.alias).values_list("session_id", flat=True))
        assert len(rows) == len(set(rows)) == per_company[company.name], company.name  # each row exactly once
        expected = set(BackgroundSession.objects.filter(id__in=ids, company=company.name).values_list("id", flat=True))
        assert set(rows) == expected
    started = Counter(
        SessionEvent.objects.filter(session_id__in=ids, kind="started").values_list("session_id", flat=True)
    )
    assert set(started.values()) == {1} and len(started) == total
    print(f"load: {total} sessions over {len(all_companies())} companies, {statuses}")
