"""Only registered codeunits run: forged or tampered queue entries are refused and recorded."""

import uuid
from pathlib import Path

import pytest
from django.utils import timezone
from django_q.signing import SignedPackage

from sessions_app.api import start_session, wait_session
from sessions_app.models import RefusedTask
from sessions_app.transport.brokers import refusal
from tests.conftest import push, wait_until

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]


def package(func, args=(), **extra):
    return SignedPackage.dumps(
        {
            "id": uuid.uuid4().hex,
            "name": "forged",
            "func": func,
            "args": args,
            "kwargs": {},
            "started": timezone.now(),
            **extra,
        }
    )


def tamper(signed: str) -> str:
    """Change one character of the signed data, as an attacker without the key would."""
    i = len(signed) // 3
    return signed[:i] + ("A" if signed[i] != "A" else "B") + signed[i + 1 :]


def test_the_screen_allows_only_session_tasks_carrying_one_id():
    assert refusal(package("sessions_app.runner.execute", (5,))) is None
    assert refusal(package("bench.benchmark.noop")) is None  # the demo project allows its benchmark
    assert "not allowed" in refusal(package("os.makedirs", ("/tmp/x",)))[0]
    assert "not allowed" in refusal(package(print))[0]
    assert "exactly one session id" in refusal(package("sessions_app.runner.execute", ("5; rm",)))[0]
    assert "exactly one session id" in refusal(package("sessions_app.runner.execute", (5, 6)))[0]
    assert "does not verify" in refusal(tamper(package("sessions_app.runner.execute", (5,))))[0]
    assert "does not verify" in refusal(b"not a package at all")[0]


@pytest.mark.integration
def test_forged_and_tampered_queue_entries_never_run_and_are_recorded(cluster, tmp_path):
    target = tmp_path / "pwned"
    push(package("os.makedirs", (str(target),)))
    push(tamper(package("sessions_app.runner.execute", (1,))))
    wait_until(lambda: RefusedTask.objects.count() == 2, timeout=30, message="both entries to be refused")
    reasons = " | ".join(RefusedTask.objects.values_list("reason", flat=True))
    assert "does not verify" in reasons and "'os.makedirs' is not allowed" in reasons
    assert not Path(target).exists()
    # The cluster keeps serving real sessions.
    assert wait_session(start_session("No-op", company="CRONUS").id, timeout=30).status == "succeeded"


def test_no_command_or_page_prints_a_secret(tmp_path):
    import os
    import subprocess
    import sys

    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    from sessions_app.api import run_codeunit
    from tests.conftest import BASE_DIR

    secrets = [settings.SECRET_KEY] + [
        cfg.get("PASSWORD") for cfg in settings.DATABASES.values() if cfg.get("PASSWORD")
    ]
    s = run_codeunit("Insert Row", company="CRONUS")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings")
    outputs = []
    for args in (
        ["sessions", "--json"],
        ["codeunits", "--json"],
        ["companies", "--json"],
        ["companies"],
        ["start_session", "No-op", "--json"],
        ["stop_session", str(s.id)],
        ["start_session", "nope"],
    ):
        result = subprocess.run(
            [sys.executable, str(BASE_DIR / "manage.py"), *args],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        outputs.append(result.stdout + result.stderr)
    client = Client()
    client.force_login(User.objects.create_superuser("peeker", password="pw"))
    for url in (
        "/sessions/",
        f"/sessions/{s.id}/",
        f"/sessions/{s.id}/status.json",
        "/sessions/codeunits/",
        "/demo/customers/",
        "/admin/",
        f"/admin/sessions_app/backgroundsession/{s.id}/change/",
    ):
        outputs.append(client.get(url).content.decode())
    for secret in secrets:
        assert not any(secret in out for out in outputs)
