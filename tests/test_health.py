"""Health: the view and ``manage.py sessions_health`` in each failure mode, on both set-ups.

A database is taken down by pointing its connection where nothing answers (a
folder that does not exist for SQLite, a closed port for PostgreSQL).
"""

from contextlib import contextmanager
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from sessions_app import health
from sessions_app.api import start_session
from sessions_app.conf import app_settings
from sessions_app.models import BackgroundSession, ClusterBeat
from tests.conftest import BASE_DIR, manage_py, wait_until

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]


@contextmanager
def down(alias: str):
    """The database of ``alias`` does not answer inside the block."""
    connection = connections[alias]
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = str(BASE_DIR / "var" / "no-such-folder" / "down.sqlite3")
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT="1")  # nothing listens there
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def beat(seconds_ago: float = 0, name: str = "host-a:1") -> None:
    at = timezone.now() - timedelta(seconds=seconds_ago)
    ClusterBeat.objects.update_or_create(name=name, defaults={"beat_at": at})


def checks(result) -> dict[str, bool]:
    return {c.name: c.ok for c in result.checks}


def test_all_is_well_when_the_databases_answer_a_cluster_beat_and_nothing_waits_long():
    beat(seconds_ago=5)
    result = health.check()
    assert result.ok and checks(result) == {"registry": True, "companies": True, "cluster": True, "queue": True}
    assert result.reason.startswith("ok: registry answers; 2 companies answer; 1 cluster beat within 60 s")
    assert result.reason.endswith("nothing queued")


def test_no_cluster_beat_within_the_window_fails_and_says_what_to_start():
    assert not health.check().ok  # never a beat
    beat(seconds_ago=90)
    result = health.check()
    assert checks(result)["cluster"] is False
    assert result.reason == "no cluster beat within 60 s: is a qcluster running?"
    assert health.check(beat_within=120).ok


def test_a_session_queued_too_long_fails_and_names_it():
    beat()
    session = start_session("No-op", company="CRONUS")
    assert health.check().ok  # just queued
    BackgroundSession.objects.filter(pk=session.id).update(created_at=timezone.now() - timedelta(minutes=6))
    result = health.check()
    assert checks(result) == {"registry": True, "companies": True, "cluster": True, "queue": False}
    assert result.reason.startswith(f"session {session.id} queued 36") and result.reason.endswith("(over 300 s)")
    assert health.check(queue_age=3600).ok


def test_the_registry_down_fails_without_reading_it_and_the_companies_are_still_checked():
    beat()
    with down(app_settings.REGISTRY_ALIAS):
        result = health.check()
    assert [(c.name, c.ok) for c in result.checks] == [("registry", False), ("companies", True)]
    assert result.reason.startswith(f"{app_settings.REGISTRY_ALIAS} does not answer: ")
    assert health.check().ok  # it answers again, on a fresh connection


def test_a_company_database_down_is_named():
    beat()
    with down("company_cronus_uk"):
        result = health.check()
    assert checks(result) == {"registry": True, "companies": False, "cluster": True, "queue": True}
    assert result.reason.startswith("company database down: CRONUS UK (company_cronus_uk does not answer: ")


def test_the_view_needs_no_login_and_shows_details_only_to_staff_or_a_token(client, django_user_model):
    beat()
    url = reverse("sessions_app:health")
    answer = client.get(url)
    assert answer.status_code == 200
    every = {"registry": True, "companies": True, "cluster": True, "queue": True}
    assert answer.json() == {"status": "ok", "checks": every}
    with down("company_cronus"):
        answer = client.get(url)
        assert answer.status_code == 503 and answer.json()["status"] == "unavailable"
        assert "reason" not in answer.json() and "company_cronus" not in answer.content.decode()
        with override_settings(SESSIONS_HEALTH_TOKEN="probe-secret"):
            detailed = client.get(url, headers={"Authorization": "Bearer probe-secret"})
            wrong = client.get(url, headers={"Authorization": "Bearer guess"})
        assert detailed.json()["reason"].startswith("company database down: CRONUS (company_cronus")
        assert "reason" not in wrong.json()
        client.force_login(django_user_model.objects.create_user("ops", password="x", is_staff=True))
        staff = client.get(url)
        assert staff.status_code == 503 and staff.json()["details"]["companies"].startswith("company database down")
    assert client.post(url).status_code == 405
    assert answer["Cache-Control"].startswith("max-age=0")


def test_liveness_answers_while_the_registry_is_down(client):
    with down(app_settings.REGISTRY_ALIAS), down("default"):
        answer = client.get(reverse("sessions_app:liveness"))
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


def test_the_command_exits_0_with_ok_or_1_with_the_reason_in_one_line():
    beat()
    out = StringIO()
    call_command("sessions_health", stdout=out)
    assert out.getvalue().startswith("ok: registry answers;") and out.getvalue().count("\n") == 1
    with down(app_settings.REGISTRY_ALIAS), pytest.raises(CommandError) as failed:
        call_command("sessions_health")
    assert failed.value.returncode == 1 and "does not answer" in str(failed.value)
    ClusterBeat.objects.all().delete()
    with pytest.raises(CommandError, match="no cluster beat within 30 s") as failed:
        call_command("sessions_health", "--beat-within", "30")
    assert failed.value.returncode == 1
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("sessions_health", "--json", stdout=out)
    assert '"ok": false' in out.getvalue() and '"name": "cluster"' in out.getvalue()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--queue-age", "0"], "argument --queue-age: '0' must be at least 1 and at most 604800"),
        (["--beat-within", "soon"], "argument --beat-within: 'soon' is not a whole number"),
    ],
)
def test_bad_windows_exit_2_with_what_is_wrong(args, message):
    result = manage_py("sessions_health", *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr


@pytest.mark.integration
def test_with_a_running_cluster_the_command_says_ok_from_a_manage_py(cluster):
    # The databases were flushed after the last test; the cluster writes its beat again within 15 s.
    wait_until(lambda: ClusterBeat.objects.exists(), 30, message="the cluster's next beat")
    result = manage_py("sessions_health")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: registry answers;") and "cluster" in result.stdout
