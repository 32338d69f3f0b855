"""The admin as a new user meets it: change lists that fit a laptop, a session's page, one queue, clear messages.

No cluster: sessions started in the background stay queued; inline (debug) ones run at once. The
browser test drives Debian's chromium against the live server, signed in with the test client's cookie.
"""

import html as html_module
import os
import re
import subprocess
import sys
import textwrap
from datetime import time
from pathlib import Path

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from demo.models import Customer
from sessions_app import api
from sessions_app.companies import use_company
from sessions_app.models import WAITING_FOR_LOCK, BackgroundSession, CompanyAccess
from sessions_app.scheduling import api as scheduling
from sessions_app.scheduling.models import JobQueueEntry, ScheduledTask
from tests import clock
from tests.conftest import BASE_DIR

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]

SESSIONS = reverse("admin:sessions_app_backgroundsession_changelist")
ENTRIES = reverse("admin:sessions_scheduling_jobqueueentry_changelist")
TASKS = reverse("admin:sessions_scheduling_scheduledtask_changelist")
RUNS = reverse("admin:sessions_scheduling_jobqueuelogentry_changelist")
CUSTOMERS = reverse("admin:demo_customer_changelist")


@pytest.fixture(autouse=True)
def real_clock():
    clock.reset()
    yield
    clock.reset()


def make_user(name, codenames=(), companies=("CRONUS",)):
    user = User.objects.create_user(name, password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label__in=("sessions_app", "sessions_scheduling", "demo"), codename__in=codenames
        )
    )
    for company in companies:
        CompanyAccess.objects.create(user=user, company=company)
    return user


def client_for(user, **kwargs):
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def boss():
    return User.objects.create_superuser("boss", password="pw")


@pytest.fixture
def viewer():
    return make_user("viewer", ["view_backgroundsession"])


def session_page(session_id) -> str:
    return reverse("admin:sessions_app_backgroundsession_change", args=[session_id])


def stop_url(session_id) -> str:
    return reverse("admin:sessions_app_backgroundsession_stop", args=[session_id])


def rerun_url(session_id) -> str:
    return reverse("admin:sessions_app_backgroundsession_rerun", args=[session_id])


def text(markup: str) -> str:
    """Markup as a person reads it: no tags, entities decoded, runs of white space as one space."""
    return re.sub(r"\s+", " ", html_module.unescape(re.sub(r"<[^>]+>", "", str(markup)))).strip()


def messages_of(response) -> list[str]:
    return [text(m) for m in response.context["messages"]]


def columns(page: str) -> list[str]:
    """The change list's column names (``column-<name>`` classes of the header), in order."""
    head = re.search(r"<thead>(.*?)</thead>", page, re.S).group(1)
    return re.findall(r'class="[^"]*\bcolumn-(\w+)', head)


def headers(page: str) -> list[str]:
    head = re.search(r"<thead>(.*?)</thead>", page, re.S).group(1)
    return [text(th) for th in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)]


def fieldset_headings(page: str) -> list[str]:
    return [text(h) for h in re.findall(r'<h2 id="fieldset-[^"]*"[^>]*>(.*?)</h2>', page, re.S)]


def act(client, url, action, *ids, **extra):
    return client.post(url, {"action": action, "_selected_action": [str(i) for i in ids], **extra}, follow=True)


# 1. Change lists that fit 1280 px.


def test_the_session_list_shows_the_columns_that_matter_on_one_line_each(boss):
    done = api.run_codeunit("Progress And Log", company="CRONUS", user=boss)
    waiting = api.start_session("No-op", company="CRONUS UK", user=boss)
    page = client_for(boss).get(SESSIONS).content.decode()
    assert columns(page) == [
        "id",
        "codeunit",
        "company",
        "coloured_status",
        "started",
        "elapsed_display",
        "started_by",
    ]
    assert [h.upper() for h in headers(page)[1:]] == [
        "ID",
        "CODEUNIT",
        "COMPANY",
        "STATUS",
        "STARTED",
        "ELAPSED",
        "USER",
    ]
    row = re.search(rf'<tr>.*?value="{done.id}".*?</tr>', page, re.S).group(0)
    assert '<td class="field-codeunit">90009 Progress And Log</td>' in row
    assert re.search(r'<td class="field-started">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</td>', row)
    assert re.search(r'<td class="field-elapsed_display">(&lt; )?\d+\.\d\d s</td>', row)  # humanised
    assert '<td class="field-started_by">boss</td>' in row
    assert f'value="{waiting.id}"' in page
    # One line per row, and the page's width for the table: no navigation sidebar beside the filters.
    assert "#result_list th, #result_list td { white-space: nowrap; }" in page
    assert 'id="nav-sidebar"' not in page and 'id="changelist-filter"' in page


def test_the_job_queue_list_shows_the_columns_that_matter_on_one_line_each(boss):
    job = scheduling.add_job("No-op", company="CRONUS", description="count", ready=False, weekdays=["mon-fri"])
    session = scheduling.run_job_now(job.id, debug=True)
    page = client_for(boss).get(ENTRIES).content.decode()
    assert columns(page) == [
        "id",
        "description",
        "codeunit",
        "status_and_attempts",
        "next_run",
        "recurrence",
        "last_run",
        "username_display",
    ]
    assert [h.upper() for h in headers(page)[1:]] == [
        "ID",
        "DESCRIPTION",
        "CODEUNIT",
        "STATUS",
        "NEXT RUN",
        "RECURRENCE",
        "LAST RUN",
        "USER",
    ]
    assert '<td class="field-codeunit">90007 No-op</td>' in page
    assert f'<a href="/sessions/{session.id}/">{session.id}</a> <span style="color:#1a7f37">Success</span>' in page
    assert "Job queue entries in CRONUS" in page  # the company is the title's, not a column's
    assert "white-space: nowrap" in page and 'id="nav-sidebar"' not in page


def test_the_job_queue_log_shows_its_times_as_every_list_does(boss):
    job = scheduling.add_job("Write Then Fail", company="CRONUS", description="nightly", ready=False)
    session = scheduling.run_job_now(job.id, debug=True)
    page = client_for(boss).get(RUNS).content.decode()
    assert columns(page) == ["id", "job", "coloured_status", "started", "finished", "error", "session"]
    assert f">{job.id} nightly</a><br><small>90002 Write Then Fail</small></td>" in page  # the entry, then its codeunit
    row = re.search(r"<tbody>(.*?)</tbody>", page, re.S).group(1)
    assert re.search(r'<td class="field-started">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</td>', row), row  # with seconds
    assert re.search(r'<td class="field-finished">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</td>', row), row
    assert f'<td class="field-session"><a href="/sessions/{session.id}/">{session.id}</a></td>' in row
    assert "white-space: nowrap" in page and 'id="nav-sidebar"' not in page


def test_a_failing_entry_shows_its_attempts_beside_its_status(boss):
    failing = scheduling.add_job("Write Then Fail", company="CRONUS", ready=False, max_attempts=3)
    fine = scheduling.add_job("No-op", company="CRONUS", ready=False)
    JobQueueEntry.objects.filter(pk=failing.pk).update(status="waiting", attempts=1)  # as the dispatcher leaves it
    page = client_for(boss).get(ENTRIES).content.decode()
    rows = re.findall(r"<tr>(.*?)</tr>", page.split("<tbody>")[1], re.S)
    cells = {
        re.search(r'name="_selected_action" value="(\d+)"', row).group(1): re.search(
            r'<td class="field-status_and_attempts">(.*?)</td>', row, re.S
        ).group(1)
        for row in rows
    }
    assert text(cells[str(failing.id)]) == "Waiting 1/3" and text(cells[str(fine.id)]) == "On hold"


@pytest.fixture(scope="module")
def browser():
    chromium = "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.fail("Debian's chromium is not installed: run `make setup-browser` (apt-get install chromium).")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's event loop runs in this thread
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.mark.browser
def test_the_session_and_job_queue_lists_fit_a_1280_px_screen(browser, live_server, boss, tmp_path):
    # Rows as wide as they come: long codeunit names, both companies, every column filled.
    for name in ("Always Retriable", "Progress And Log", "Write Then Fail", "Who Am I"):
        api.run_codeunit(name, company="CRONUS", user=boss, raise_errors=False)
        api.start_session(name, company="CRONUS UK", user=boss)
    from sessions_app.backends import codeunit_id

    long_path = "shop.a_rather_long_app_name.tasks.recalculate_the_address_of_every_customer_in_the_company"
    api.start_session(codeunit_id(), company="CRONUS", params={"task": long_path}, user=boss)  # it wraps
    for name, description in (("Always Retriable", "Nightly address refresh for every customer"), ("Sleep", "")):
        job = scheduling.add_job(
            name,
            company="CRONUS",
            description=description,
            params={"seconds": 1} if name == "Sleep" else None,
            ready=False,
            weekdays=["mon-fri"],
            starting_time=time(8),
            ending_time=time(17, 30),
            minutes_between_runs=15,
            user=boss,
        )
        scheduling.run_job_now(job.id, user=boss, debug=True)
    # Every column of the entries filled: retrying after a failure, with a next run planned.
    JobQueueEntry.objects.update(status="waiting", attempts=2, earliest_start=timezone.now())
    client = client_for(boss)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    page = context.new_page()
    try:
        for name, url in (("sessions", SESSIONS), ("job-queue", ENTRIES), ("job-queue-log", RUNS)):
            page.goto(url)
            page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
            widths = page.evaluate(
                """() => ({
                    page: document.documentElement.scrollWidth,
                    window: window.innerWidth,
                    table: document.querySelector('#result_list').scrollWidth,
                    box: document.querySelector('#changelist .results').clientWidth,
                    rows: document.querySelectorAll('#result_list tbody tr').length,
                    codeunitsOnOneLine: Array.from(document.querySelectorAll('#result_list td.field-codeunit'))
                        .every(td => getComputedStyle(td).whiteSpace === 'nowrap'),
                })"""
            )
            assert widths["rows"] >= 2, widths
            assert widths["page"] <= widths["window"], (name, widths)  # no horizontal scroll of the page
            assert widths["table"] <= widths["box"], (name, widths)  # no column clipped by the results box
            assert widths["codeunitsOnOneLine"], (name, widths)
    finally:
        context.close()


# 2. A session's page: fieldsets, and Stop and Re-run buttons.


def test_a_failed_sessions_page_shows_outcome_timing_parameters_and_traceback(boss):
    s = api.run_codeunit("Write Then Fail", company="CRONUS", params={"result": "x"}, user=boss, raise_errors=False)
    page = client_for(boss).get(session_page(s.id)).content.decode()
    assert fieldset_headings(page) == ["Outcome", "Timing", "Parameters", "Traceback", "Details"]
    assert "Events" in text(page) or "EVENTS" in page.upper()
    outcome = text(page.split('id="fieldset-0-1-heading"')[1].split("</fieldset>")[0])
    assert "Status: Failed" in outcome and f"Error: {s.error}" in outcome
    timing = text(page.split('id="fieldset-0-2-heading"')[1].split("</fieldset>")[0])
    assert re.search(r"Created: \S+ \S+ Started: \S+ \S+ Finished: \S+ \S+ Elapsed: (< )?\d+\.\d\d s", timing)
    pretty = '{\n  "log_id": "[-0-9a-f]+",\n  "result": "x"\n}</pre>'.replace('"', "&quot;")
    assert re.search('<pre class="sessions-json">' + pretty, page)  # indented JSON
    assert re.search(r'<pre class="sessions-traceback">Traceback \(most recent call last\)', page)
    assert ".sessions-json, .sessions-traceback {" in page and "font-family: var(--font-family-monospace)" in page
    assert 'id="session-rerun-form"' in page and 'id="session-stop-form"' not in page  # finished: no Stop


def test_a_succeeded_sessions_page_shows_its_result_and_no_traceback(boss):
    s = api.run_codeunit("Insert Row", company="CRONUS", params={"result": "done"}, user=boss)
    page = client_for(boss).get(session_page(s.id)).content.decode()
    assert fieldset_headings(page) == ["Outcome", "Timing", "Parameters", "Result", "Details"]
    assert '<pre class="sessions-json">' in page.split('id="fieldset-0-4-heading"')[1].split("</fieldset>")[0]
    assert "sessions-traceback" not in page.split("</style>")[-1]


def test_a_session_waiting_for_its_company_database_says_so_in_the_list_and_on_its_page(boss):
    s = api.start_session("No-op", company="CRONUS", user=boss)
    BackgroundSession.objects.filter(pk=s.id).update(
        status="running", started_at=timezone.now(), progress_message=WAITING_FOR_LOCK
    )
    client = client_for(boss)
    status = '<b style="color:#0b5cad">Waiting for the company database</b>'
    assert status in client.get(SESSIONS).content.decode()
    page = client.get(session_page(s.id)).content.decode()
    assert status in page and "another writer (no session) holds CRONUS" in page
    # The session that holds the company is named, with a link, on both pages.
    holder = api.start_session("Sleep", company="CRONUS", user=boss)
    BackgroundSession.objects.filter(pk=holder.id).update(status="running", started_at=timezone.now())
    page = client.get(session_page(s.id)).content.decode()
    assert f'href="{session_page(holder.id)}">Session {holder.id}</a> (Sleep), which holds CRONUS' in page
    page = client.get(f"/sessions/{s.id}/").content.decode()
    assert f'behind <a href="/sessions/{holder.id}/">session {holder.id}</a> (Sleep), which holds CRONUS' in page
    BackgroundSession.objects.filter(pk=s.id).update(progress_message="halfway")
    assert '<b style="color:#0b5cad">Running</b>' in client.get(SESSIONS).content.decode()


def test_the_stop_button_shows_while_the_session_is_active_and_stops_it_as_the_user():
    clerk = make_user("clerk", ["view_backgroundsession", "stop_session"])
    s = api.start_session("No-op", company="CRONUS")
    client = client_for(clerk)
    page = client.get(session_page(s.id)).content.decode()
    assert f'action="{stop_url(s.id)}"' in page and 'id="session-rerun-form"' not in page  # no re-run permission
    response = client.post(stop_url(s.id), follow=True)
    assert response.redirect_chain == [(session_page(s.id), 302)]
    assert messages_of(response) == [f"Cancelled session {s.id} before it started."]
    s.refresh_from_db()
    assert (s.status, s.stopped_by, s.stop_comment) == ("cancelled", "clerk", "stopped from the admin")
    page = response.content.decode()
    assert 'id="session-stop-form"' not in page and "Stopped by: clerk at" in text(page)
    response = client.post(stop_url(s.id), follow=True)
    assert messages_of(response) == [f"Could not stop session {s.id}: Session {s.id} has already finished: cancelled."]


def test_the_rerun_button_starts_the_codeunit_again_as_the_user_and_opens_the_new_session():
    clerk = make_user("clerk", ["view_backgroundsession", "rerun_session", "start_session"])
    s = api.run_codeunit("Insert Row", company="CRONUS", params={"result": "first"})
    client = client_for(clerk)
    assert 'id="session-rerun-form"' in client.get(session_page(s.id)).content.decode()
    response = client.post(rerun_url(s.id), follow=True)
    again = BackgroundSession.objects.exclude(pk=s.id).get()
    assert (again.codeunit_id, again.params["result"], again.username, again.status) == (
        s.codeunit_id,
        "first",
        "clerk",
        "queued",
    )
    assert response.redirect_chain == [(session_page(again.id), 302)]
    assert messages_of(response) == [f"Started Insert Row in 1 session: {again.id}."]
    assert 'id="session-stop-form"' not in response.content.decode()  # may not stop


def test_the_buttons_are_csrf_protected():
    clerk = make_user("clerk", ["view_backgroundsession", "stop_session", "rerun_session", "start_session"])
    s = api.start_session("No-op", company="CRONUS")
    client = client_for(clerk, enforce_csrf_checks=True)
    page = client.get(session_page(s.id)).content.decode()
    assert client.post(stop_url(s.id)).status_code == 403
    assert client.post(rerun_url(s.id)).status_code == 403
    assert BackgroundSession.objects.get().status == "queued"
    form = re.search(r'<form method="post" action="[^"]*/stop/" id="session-stop-form">(.*?)</form>', page, re.S)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(1)).group(1)
    assert client.post(stop_url(s.id), {"csrfmiddlewaretoken": token}).status_code == 302
    assert BackgroundSession.objects.get().status == "cancelled"


@pytest.mark.parametrize(
    ("codenames", "button", "allowed"),
    [
        (["view_backgroundsession"], "stop", False),
        (["view_backgroundsession"], "rerun", False),
        (["view_backgroundsession", "rerun_session"], "rerun", False),  # re-running is starting too
        (["view_backgroundsession", "start_session"], "rerun", False),
        (["stop_session"], "stop", False),  # nor without seeing sessions
        (["view_backgroundsession", "stop_session"], "stop", True),
        (["view_backgroundsession", "rerun_session", "start_session"], "rerun", True),
    ],
)
def test_the_buttons_need_their_permissions(codenames, button, allowed):
    user = make_user("someone", codenames)
    s = api.start_session("No-op", company="CRONUS")
    client = client_for(user)
    url = stop_url(s.id) if button == "stop" else rerun_url(s.id)
    if "view_backgroundsession" in codenames:
        page = client.get(session_page(s.id)).content.decode()
        assert (f'action="{url}"' in page) is allowed
    assert client.get(url).status_code == 405  # a GET never stops or starts anything
    response = client.post(url)
    assert response.status_code == (302 if allowed else 403)
    if not allowed:
        assert BackgroundSession.objects.get().status == "queued"


def test_the_buttons_refuse_a_session_of_a_company_the_user_may_not_work_in():
    clerk = make_user("clerk", ["view_backgroundsession", "stop_session", "rerun_session", "start_session"])
    theirs = api.start_session("No-op", company="CRONUS UK")
    client = client_for(clerk)
    assert client.post(stop_url(theirs.id)).status_code == 404
    assert client.post(rerun_url(theirs.id)).status_code == 404
    assert client.post(stop_url(999_999)).status_code == 404
    assert BackgroundSession.objects.get().status == "queued"


# 3. Retriable only on a failed session; re-runs linked both ways.


def test_retriable_shows_on_a_failed_session_only(boss):
    failed = api.run_codeunit("Always Retriable", company="CRONUS", raise_errors=False)
    succeeded = api.run_codeunit("No-op", company="CRONUS")
    assert failed.retriable and failed.status == "failed"
    client = client_for(boss)
    page = client.get(session_page(failed.id)).content.decode()
    field = re.search(r'<div class="form-row field-retriable_display">(.*?)</div>\s*</div>', page, re.S).group(1)
    assert "Retriable:" in text(field) and 'alt="True"' in field
    page = client.get(session_page(succeeded.id)).content.decode()
    assert "Retriable" not in text(page) and "field-retriable" not in page


def test_a_rerun_links_to_the_session_it_reruns_and_that_session_to_its_reruns(boss):
    first = api.run_codeunit("No-op", company="CRONUS")
    again = api.start_session("No-op", company="CRONUS", rerun_of=first.id)
    third = api.start_session("No-op", company="CRONUS", rerun_of=first.id)
    unrelated = api.start_session("No-op", company="CRONUS")
    client = client_for(boss)
    page = client.get(session_page(first.id)).content.decode()
    assert f'<a href="{session_page(again.id)}">Session {again.id}</a> (Queued), ' in page
    assert f'<a href="{session_page(third.id)}">Session {third.id}</a> (Queued)' in page
    assert f"Session {unrelated.id}<" not in page and "Re-run of" not in page
    for rerun in (again, third):
        page = client.get(session_page(rerun.id)).content.decode()
        assert f'<a href="{session_page(first.id)}">Session {first.id}</a>' in page and "Re-runs" not in page


# 4. One queue: django-q2's own task admin is hidden.


def test_django_q2s_task_admin_is_not_in_the_admin(boss):
    from django_q.models import Failure, OrmQ, Schedule, Success

    page = text(client_for(boss).get(reverse("admin:index")).content.decode())
    for name in ("Failed tasks", "Queued tasks", "Successful tasks", "Task queue"):
        assert name not in page
    assert "Background sessions" in page and "Job queue entries" in page
    assert not any(admin.site.is_registered(m) for m in (Failure, OrmQ, Schedule, Success))
    assert client_for(boss).get("/admin/django_q/").status_code == 404


SETUP_SCRIPT = """
import django
django.setup()
from django.contrib import admin
from django_q.models import Failure, OrmQ, Schedule, Success
print(sorted(m.__name__ for m in (Failure, OrmQ, Schedule, Success) if admin.site.is_registered(m)))
"""


@pytest.mark.parametrize(
    "order",
    [
        "as configured",
        "django_q after the app",  # django-q2's admin discovered after the app's
        "the admin last",  # every app ready before the admin discovers anything
    ],
)
def test_django_q2s_task_admin_stays_hidden_whatever_the_order_of_installed_apps(order, tmp_path):
    settings_module = tmp_path / "reordered_settings.py"
    settings_module.write_text(
        textwrap.dedent(
            f"""
            from tests.settings import *  # noqa: F403
            apps = list(INSTALLED_APPS)  # noqa: F405
            order = {order!r}
            if order != "as configured":
                apps.remove("django_q")
                apps.append("django_q")
            if order == "the admin last":
                apps.remove("django.contrib.admin")
                apps.append("django.contrib.admin")
            INSTALLED_APPS = apps
            """
        )
    )
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="reordered_settings",
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(BASE_DIR)]),
        SESSIONS_DATA_DIR=str(tmp_path / "data"),
    )
    out = subprocess.run(
        [sys.executable, "-c", SETUP_SCRIPT], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


# 5. Scheduled tasks are the current company's.


def test_scheduled_tasks_are_scoped_to_the_current_company(boss):
    mine = scheduling.create_task("No-op", company="CRONUS", ready=False)
    theirs = scheduling.create_task("Who Am I", company="CRONUS UK", ready=False)
    client = client_for(boss)
    page = client.get(TASKS).content.decode()
    assert "Scheduled tasks in CRONUS" in page
    assert f'value="{mine}"' in page and f'value="{theirs}"' not in page
    assert "company" not in columns(page) and "?company=" not in page
    assert client.get(reverse("admin:sessions_scheduling_scheduledtask_change", args=[theirs])).status_code == 302
    act(client, TASKS, "cancel", theirs)
    assert ScheduledTask.objects.get(pk=theirs).status == "not_ready"

    client.post(reverse("sessions_app:switch_company"), {"company": "CRONUS UK"})
    page = client.get(TASKS).content.decode()
    assert "Scheduled tasks in CRONUS UK" in page
    assert f'value="{theirs}"' in page and f'value="{mine}"' not in page
    assert client.get(reverse("admin:sessions_scheduling_scheduledtask_change", args=[theirs])).status_code == 200


def test_a_user_without_a_company_gets_no_scheduled_tasks_admin():
    outsider = make_user("outsider", ["view_scheduledtask", "change_scheduledtask"], companies=())
    scheduling.create_task("No-op", company="CRONUS", ready=False)
    client = client_for(outsider)
    assert client.get(TASKS).status_code == 403
    assert "Scheduled tasks" not in client.get(reverse("admin:index")).content.decode()


# 6. Messages say what was done, to how many.

OLD_STYLE = re.compile(r"Session \d+ (started|re-run)|^Entry \d+ (ran|is)|^Task \d+ is")


def test_the_works_action_says_how_many_sessions_it_started(boss):
    with use_company("CRONUS"):
        for no in ("C1", "C2", "C3"):
            Customer.objects.create(no=no, name=no)
    client = client_for(boss)
    response = act(client, CUSTOMERS, "run_the_works", "C1", apply="1", **{"p-vendor_no": "v"})
    (one,) = BackgroundSession.objects.all()
    assert messages_of(response) == [f"Started The Works for a Customer in 1 session: {one.id}."]
    response = act(client, CUSTOMERS, "run_the_works", "C1", "C2", "C3", apply="1", **{"p-vendor_no": "v"})
    ids = ", ".join(
        str(i) for i in BackgroundSession.objects.exclude(pk=one.id).order_by("id").values_list("id", flat=True)
    )
    assert messages_of(response) == [f"Started The Works for a Customer in 3 sessions: {ids}."]
    response = act(client, CUSTOMERS, "run_the_works_inline", "C2", apply="1", **{"p-vendor_no": "v"})
    inline = BackgroundSession.objects.get(mode="inline")
    (message,) = messages_of(response)
    assert re.fullmatch(
        rf"Ran The Works for a Customer \(C2\) inline in session {inline.id}: succeeded in \d+\.\d\d s\.", message
    ), message


def test_session_actions_say_what_they_did_to_how_many_sessions(boss):
    queued = [api.start_session("No-op", company="CRONUS") for _ in range(2)]
    done = api.run_codeunit("Insert Row", company="CRONUS", params={"result": "r"})
    client = client_for(boss)
    response = act(client, SESSIONS, "stop", *[s.id for s in queued], done.id)
    assert messages_of(response) == [
        f"Could not stop session {done.id}: Session {done.id} has already finished: succeeded.",
        f"Cancelled 2 sessions before they started: {queued[1].id}, {queued[0].id}.",
    ]
    response = act(client, SESSIONS, "rerun", *[s.id for s in queued], done.id)
    new = list(BackgroundSession.objects.filter(status="queued").order_by("id"))
    no_ops = ", ".join(str(s.id) for s in new if s.codeunit_name == "No-op")
    (insert,) = [s for s in new if s.codeunit_name == "Insert Row"]
    assert sorted(messages_of(response)) == [
        f"Started Insert Row in 1 session: {insert.id}.",
        f"Started No-op in 2 sessions: {no_ops}.",
    ]
    response = act(client, SESSIONS, "rerun_inline", done.id)
    inline = BackgroundSession.objects.get(mode="inline", codeunit_name="Insert Row", rerun_of=done.id)
    (message,) = messages_of(response)
    assert re.fullmatch(rf"Re-ran session {done.id} inline in session {inline.id}: succeeded in .+ s\.", message)
    assert not any(OLD_STYLE.search(m) for m in messages_of(response))


def test_scheduling_actions_say_what_they_did_to_how_many(boss):
    jobs = [scheduling.add_job("No-op", company="CRONUS", ready=False) for _ in range(2)]
    tasks = [scheduling.create_task("No-op", company="CRONUS", ready=False) for _ in range(2)]
    client = client_for(boss)
    ids = f"{jobs[0].id}, {jobs[1].id}"
    assert messages_of(act(client, ENTRIES, "set_ready", jobs[0].id, jobs[1].id)) == [f"Set 2 entries ready: {ids}."]
    assert messages_of(act(client, ENTRIES, "set_on_hold", jobs[0].id)) == [f"Put 1 entry on hold: {jobs[0].id}."]
    assert messages_of(act(client, ENTRIES, "restart", jobs[1].id)) == [f"Restarted 1 entry: {jobs[1].id}."]
    response = act(client, ENTRIES, "run_now", jobs[0].id)
    session = BackgroundSession.objects.get()
    assert messages_of(response) == [f"Started No-op in 1 session: {session.id}."]
    (message,) = messages_of(act(client, ENTRIES, "run_now", jobs[0].id))
    assert message.startswith(f"Could not run entry {jobs[0].id}: ") and "in process" in message
    (message,) = messages_of(act(client, ENTRIES, "run_now_inline", jobs[1].id))
    inline = BackgroundSession.objects.get(mode="inline")
    assert re.fullmatch(
        rf"Ran No-op \(entry {jobs[1].id}\) inline in session {inline.id}: succeeded in .+ s\.", message
    )

    task_ids = ", ".join(str(t) for t in sorted(tasks, reverse=True))
    assert messages_of(act(client, TASKS, "set_ready", *tasks)) == [f"Set 2 tasks ready: {task_ids}."]
    assert messages_of(act(client, TASKS, "cancel", *tasks)) == [f"Cancelled 2 tasks: {task_ids}."]
    assert messages_of(act(client, TASKS, "cancel", tasks[0])) == [
        f"Could not cancel 1 task (finished already): {tasks[0]}."
    ]


# 7. The user's page grants a company only when one is chosen.

USER_ADD = reverse("admin:auth_user_add")


def access_rows(rows=(), extra: str = "") -> dict:
    """The user page's Company access inline as a browser posts it: the saved rows, then the extra one."""
    data = {
        "company_access-TOTAL_FORMS": str(len(rows) + 1),
        "company_access-INITIAL_FORMS": str(len(rows)),
        "company_access-MIN_NUM_FORMS": "0",
        "company_access-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate([*rows, None]):
        data[f"company_access-{i}-id"] = str(row.id) if row else ""
        data[f"company_access-{i}-company"] = row.company if row else extra
    return data


def test_the_user_page_grants_no_company_unless_one_is_chosen_and_saves_again(boss):
    client = client_for(boss)
    page = client.get(USER_ADD).content.decode()
    select = re.search(r'<select name="company_access-0-company".*?</select>', page, re.S).group(0)
    assert re.search(r'<option value="" selected>', select)  # a blank choice, chosen
    new_user = {"username": "newclerk", "password1": "a-long-pass-1", "password2": "a-long-pass-1"}
    response = client.post(USER_ADD, {**new_user, "usable_password": "true", **access_rows()})
    assert response.status_code == 302, text(response.content.decode())[:2000]
    clerk = User.objects.get(username="newclerk")
    assert not CompanyAccess.objects.filter(user=clerk).exists()  # nothing granted unless chosen

    change = reverse("admin:auth_user_change", args=[clerk.id])
    profile = {"username": "newclerk", "first_name": "Nell", "is_active": "on", "date_joined_0": "2026-01-02"}
    profile["date_joined_1"] = "03:04:05"

    def save(**access):
        response = client.post(change, {**profile, **access_rows(**access)})
        assert response.status_code == 302, text(response.content.decode())[:2000]

    save()  # a later change saves, granting nothing
    save(extra="CRONUS UK")  # a company chosen is granted
    granted = list(CompanyAccess.objects.filter(user=clerk))
    assert [a.company for a in granted] == ["CRONUS UK"]
    save(rows=granted)  # and saving again is no duplicate
    assert list(CompanyAccess.objects.filter(user=clerk).values_list("company", flat=True)) == ["CRONUS UK"]
    assert User.objects.get(pk=clerk.pk).first_name == "Nell"


# 8. Django's tasks in the session log; the demo's admin shows the sessions, not the benchmark's peer.


def test_a_task_sessions_import_path_shows_in_the_session_log_and_finds_it(boss):
    from sessions_app.backends import codeunit_id

    task = api.start_session(
        codeunit_id(), company="CRONUS", params={"task": "tests.testapp.tasks.add", "args": [1, 2]}
    )
    other = api.start_session("No-op", company="CRONUS")
    client = client_for(boss)
    page = client.get(SESSIONS).content.decode()
    assert (
        f'<td class="field-codeunit">{codeunit_id()} Django Task<br><small class="task-path">'
        "tests.testapp.tasks.add</small></td>" in page
    )
    assert '<td class="field-codeunit">90007 No-op</td>' in page  # other codeunits as they were
    found = client.get(SESSIONS, {"q": "testapp.tasks.add"}).content.decode()
    assert f'value="{task.id}"' in found and f'value="{other.id}"' not in found
    detail = client.get(session_page(task.id)).content.decode()
    assert "tests.testapp.tasks.add</small>" in detail


def test_the_demo_admin_shows_no_task_results_of_the_benchmarks_peer(boss):
    pytest.importorskip("django_tasks_db")
    from django_tasks_db.models import DBTaskResult

    assert not admin.site.is_registered(DBTaskResult)
    page = text(client_for(boss).get(reverse("admin:index")).content.decode())
    assert "Task results" not in page and "Background sessions" in page
