"""Hostile input, generated: every value gets a clear validation error, never a crash or a 500."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sessions_app.api import get_session, request_stop, start_session
from sessions_app.exceptions import SessionNotFound, SessionStartError
from sessions_app.models import BackgroundSession
from tests.conftest import BASE_DIR
from tests.testapp.codeunits import EveryTypeParameters

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
FIELDS = list(EveryTypeParameters.fields)

nasty_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from(["\x00", "\x07", "\n", "'", ";"]),
    max_size=60,
)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    nasty_text,
    st.text(min_size=2000, max_size=3000),
    st.binary(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.decimals(allow_nan=True),
    st.dates(),
    st.datetimes(),
    st.uuids(),
)
params = st.dictionaries(st.sampled_from(FIELDS) | nasty_text, values, max_size=8)


@SETTINGS
@given(data=params)
def test_parameter_values_are_validated_or_carried_faithfully(data):
    try:
        session = start_session("Every Type", company="CRONUS", params=data, debug=True)
    except SessionStartError as e:
        assert e.reason == "invalid_params" and e.errors
        assert all(isinstance(m, str) and m for msgs in e.errors.values() for m in msgs)
        return
    # Accepted: it ran inline, and the worker rebuilt exactly the record that was validated.
    assert session.status == "succeeded", session.traceback
    assert session.result == EveryTypeParameters.validate(data).to_json() == session.params


def test_huge_parameter_records_are_refused_quickly():
    with pytest.raises(SessionStartError) as e:
        start_session("Every Type", company="CRONUS", params={f"k{i}": i for i in range(20_000)})
    assert e.value.reason == "invalid_params"
    with pytest.raises(SessionStartError) as e:
        start_session("Every Type", company="CRONUS", params={"code": "A", "text": "x" * 5_000_000})
    assert "at most 30" in e.value.errors["text"][0]
    assert not BackgroundSession.objects.exists()


refs = st.one_of(nasty_text, st.integers(), st.floats(), st.none(), st.binary(max_size=10), st.uuids())


@SETTINGS
@given(codeunit=refs, company=refs, session_id=refs)
def test_unknown_or_malformed_names_and_ids_are_clear_errors(codeunit, company, session_id):
    try:
        start_session(codeunit, company=company)
    except SessionStartError as e:
        assert e.reason in ("unknown_codeunit", "unknown_company", "invalid_params")
    with pytest.raises(SessionNotFound):
        get_session(session_id if session_id not in (None,) else "none")
    result = request_stop(session_id)
    assert not result and result.reason


@pytest.mark.parametrize("session_id", [0, -1, 2**63, 10**30, "1e3", "", " 1"])
def test_out_of_range_session_ids_are_not_found(session_id):
    with pytest.raises(SessionNotFound):
        get_session(session_id)


def _client():
    user, created = User.objects.get_or_create(
        username="hostile-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client()
    client.force_login(user)
    return client


form_values = st.one_of(nasty_text, st.text(min_size=100, max_size=400), st.integers().map(str))


@SETTINGS
@given(
    form=st.dictionaries(
        st.sampled_from(["company", "timeout", "on_commit", "debug"] + [f"p-{f}" for f in FIELDS]),
        form_values,
        max_size=10,
    )
)
def test_the_start_form_answers_400_or_starts_never_500(form):
    response = _client().post("/sessions/codeunits/90008/start/", form)
    assert response.status_code in (302, 400), response.content[:500]


@SETTINGS
@given(
    path=st.one_of(st.integers(min_value=0, max_value=10**25).map(str), nasty_text),
    query=st.dictionaries(st.sampled_from(["company", "status", "page"]), form_values, max_size=3),
)
def test_pages_with_forged_ids_and_filters_are_404_never_500(path, query):
    from urllib.parse import quote

    path = quote(path, safe="")
    client = _client()
    for url in (
        f"/sessions/{path}/",
        f"/sessions/{path}/status.json",
        "/sessions/",
        "/sessions/table/",
        f"/demo/the-works/{path}/",
        f"/demo/customers/?session={path}",
    ):
        response = client.get(url, query)
        # A path that names a real page (``/sessions/logout/`` takes POST only) may answer 405.
        allowed = (200, 404, 405) if url == f"/sessions/{path}/" else (200, 404)
        if any("\x00" in value for value in query.values()) and url.startswith("/sessions/"):
            allowed = (400, 404)  # refused the same way on every database (``forms.refuse_nul``)
        assert response.status_code in allowed, (url, response.status_code)
    assert client.post(f"/sessions/{path}/stop/").status_code in (302, 404)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(args=st.lists(st.binary(min_size=1, max_size=40).filter(lambda b: b"\x00" not in b), min_size=1, max_size=4))
def test_the_command_line_exits_2_with_a_message_never_a_traceback(args):
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", SESSIONS_LOG_LEVEL="WARNING")
    argv = [sys.executable.encode(), str(BASE_DIR / "manage.py").encode(), b"start_session", *args]
    result = subprocess.run(argv, cwd=BASE_DIR, env=env, capture_output=True, timeout=60)
    assert result.returncode in (0, 2), result.stderr[-800:]
    assert b"Traceback" not in result.stderr
    if result.returncode == 2:
        assert result.stderr.strip()


def test_non_utf8_parameter_values_on_the_command_line():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings")
    argv = [sys.executable, str(BASE_DIR / "manage.py"), "start_session", "The Works", "--param"]
    result = subprocess.run(
        [*map(os.fsencode, argv), b"customer_no=\xff\xfe"], cwd=BASE_DIR, env=env, capture_output=True, timeout=60
    )
    assert result.returncode == 2 and b"not valid UTF-8" in result.stderr
    assert not BackgroundSession.objects.exists()


cron_field = st.one_of(
    st.sampled_from(["*", "*/5", "0", "59", "60", "1-5", "5-1", "mon", "MON-FRI", "L", "?", "1,2,3", "*/0", "31", "2"]),
    st.integers(-2, 100).map(str),
)
usual_field = st.sampled_from(["*", "*/5", "*/15", "0", "1", "2", "1-5", "3,4"])
crons = st.one_of(
    st.lists(usual_field, min_size=5, max_size=5).map(" ".join),  # mostly valid
    st.lists(usual_field | cron_field, min_size=5, max_size=5).map(" ".join),
    st.lists(cron_field, min_size=4, max_size=7).map(" ".join),
    nasty_text,
)
weekday_words = st.one_of(
    st.lists(st.sampled_from(["mon", "sun", "mon-fri", "fri-mon", "Tuesdays", "0", "6"]), max_size=3),
    st.lists(st.sampled_from(["7", "-1", "", "x", "mon-"]) | nasty_text, max_size=4),
)
times = st.none() | st.times()


@SETTINGS
@given(cron=crons)
def test_cron_expressions_are_refused_or_always_have_a_next_run(cron):
    from sessions_app.scheduling import api as scheduling
    from sessions_app.scheduling import clock
    from sessions_app.scheduling.jobqueue import next_run

    try:
        entry = scheduling.add_job("No-op", company="CRONUS", cron=cron)
    except SessionStartError as e:
        assert e.reason == "invalid_params" and e.errors
        event("refused")
        return
    event("accepted")
    if not entry.is_recurring:  # an empty expression: a one-off entry
        assert entry.cron == "" and entry.earliest_start is None
    else:
        assert entry.earliest_start > clock.now() - timedelta(seconds=1)
        assert next_run(entry, entry.earliest_start) > entry.earliest_start
    entry.delete()


@SETTINGS
@given(weekdays=weekday_words, start=times, end=times, minutes=st.none() | st.integers(-5, 20000))
def test_weekday_schedules_are_refused_or_always_have_a_next_run(weekdays, start, end, minutes):
    from sessions_app.scheduling import api as scheduling
    from sessions_app.scheduling.jobqueue import next_run

    try:
        entry = scheduling.add_job(
            "No-op",
            company="CRONUS",
            weekdays=weekdays,
            starting_time=start,
            ending_time=end,
            minutes_between_runs=minutes,
        )
    except SessionStartError as e:
        assert e.reason == "invalid_params" and e.errors
        event("refused")
        return
    event("accepted, recurring" if entry.is_recurring else "accepted, once")
    if entry.is_recurring:
        following = next_run(entry, entry.earliest_start)
        assert following > entry.earliest_start and following.weekday() in entry.weekdays
    entry.delete()


def _admin_lists_with_a_nul_in_each_filter():
    from django.contrib import admin
    from django.urls import reverse

    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in ("sessions_app", "sessions_scheduling", "demo"):
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        names = {"q", "company"}
        for spec in model_admin.list_filter:
            names.add(spec if isinstance(spec, str) else getattr(spec, "parameter_name", None) or "")
        for name in sorted(filter(None, names)):
            yield url, name
            if name not in ("q", "company", "codeunit"):
                yield url, f"{name}__exact"


def test_a_nul_character_in_any_text_a_user_types_is_refused_alike_on_every_database():
    """PostgreSQL's text refuses NUL, SQLite's takes it: every door refuses it before a query sees it."""
    from sessions_app.scheduling import api as scheduling

    client = _client()
    for url, name in _admin_lists_with_a_nul_in_each_filter():
        response = client.get(url, {name: "a\x00b"})
        assert response.status_code == 400, (url, name, response.status_code)
    for url in ("/sessions/", "/sessions/table/", "/sessions/jobs/"):
        assert client.get(url, {"company": "\x00"}).status_code == 400, url
    session = start_session("Sleep", company="CRONUS", params={"seconds": 30})
    response = client.post(f"/sessions/{session.id}/stop/", {"comment": "why\x00not"})
    assert response.status_code == 400 and b"NUL" in response.content
    stop = request_stop(session.id, comment="why\x00not")
    assert not stop and "NUL" in stop.reason
    assert get_session(session.id).status == "queued" and not get_session(session.id).stop_comment
    with pytest.raises(SessionStartError) as e:
        start_session("No-op", company="CRONUS", key="k\x00")
    assert e.value.reason == "invalid_params" and "key" in e.value.errors
    for field in ("description", "category"):
        with pytest.raises(SessionStartError) as e:
            scheduling.add_job("No-op", company="CRONUS", **{field: "a\x00b"})
        assert e.value.reason == "invalid_params" and field in e.value.errors
    assert request_stop(session.id, comment="a comment").stopped


def test_a_text_that_only_spells_a_nul_is_an_ordinary_text():
    """Six characters, backslash u 0 0 0 0, are no NUL: they are carried and returned as they are."""
    text = "\\u0000"
    assert len(text) == 6
    session = start_session(
        "Every Type", company="CRONUS", params={"code": "A", "text": text, "flag": True}, debug=True
    )
    assert session.status == "succeeded", session.error
    assert session.params["text"] == text and session.result["text"] == text
    with pytest.raises(SessionStartError):
        start_session("Every Type", company="CRONUS", params={"code": "A", "text": "a\x00", "flag": True})
