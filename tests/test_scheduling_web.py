"""The admin of scheduled tasks and the job queue, and the job queue page: permissions, company scoping, actions.

No cluster: sessions started in the background stay queued; inline (debug) ones run at once.
"""

import re
from datetime import time, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sessions_app import api
from sessions_app.models import BackgroundSession, CompanyAccess
from sessions_app.scheduling import api as scheduling
from sessions_app.scheduling.models import JobQueueEntry, JobQueueLogEntry, ScheduledTask
from tests import clock

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]

TASKS = reverse("admin:sessions_scheduling_scheduledtask_changelist")
ENTRIES = reverse("admin:sessions_scheduling_jobqueueentry_changelist")
ADD_ENTRY = reverse("admin:sessions_scheduling_jobqueueentry_add")
LOG = reverse("admin:sessions_scheduling_jobqueuelogentry_changelist")
JOBS = reverse("sessions_scheduling:jobs")

VIEW_PERMS = ["view_scheduledtask", "view_jobqueueentry", "view_jobqueuelogentry", "view_backgroundsession"]
CLERK_PERMS = [*VIEW_PERMS, "change_scheduledtask", "add_jobqueueentry", "change_jobqueueentry", "start_session"]


@pytest.fixture(autouse=True)
def real_clock():
    clock.reset()
    yield
    clock.reset()


def make_user(name, codenames=(), companies=("CRONUS",)):
    user = User.objects.create_user(name, password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label__in=("sessions_app", "sessions_scheduling"), codename__in=codenames
        )
    )
    for company in companies:
        CompanyAccess.objects.create(user=user, company=company)
    return user


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def boss():
    return User.objects.create_superuser("boss", password="pw")


@pytest.fixture
def clerk():
    return make_user("clerk", CLERK_PERMS)


@pytest.fixture
def viewer():
    return make_user("viewer", VIEW_PERMS)


def act(client, url, action, *ids, **extra):
    return client.post(url, {"action": action, "_selected_action": [str(i) for i in ids], **extra}, follow=True)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def entry(entry_id) -> JobQueueEntry:
    return JobQueueEntry.objects.get(pk=entry_id)


def task(task_id) -> ScheduledTask:
    return ScheduledTask.objects.get(pk=task_id)


def entry_form(**overrides):
    data = {
        "description": "nightly sleep",
        "codeunit": "90006",
        "p-seconds": "2",
        "category": "night",
        "timeout": "00:10:00",
        "earliest_start_0": "",
        "earliest_start_1": "",
        "expires_at_0": "",
        "expires_at_1": "",
        "starting_time": "",
        "ending_time": "",
        "minutes_between_runs": "",
        "cron": "",
        "max_attempts": "3",
        "rerun_delay": "60",
        "_save": "Save",
    }
    return {**data, **overrides}


# The admin pages.


def test_every_admin_page_renders_for_a_superuser(boss):
    task_id = scheduling.create_task("Sleep", company="CRONUS", params={"seconds": 3}, ready=False)
    ScheduledTask.objects.filter(pk=task_id).update(
        error_message="it broke", error_type="builtins.ValueError", error_traceback="Traceback: line 1"
    )
    job = scheduling.add_job(
        "Write Then Fail", company="CRONUS", description="fails", ready=False, weekdays=["mon-fri"]
    )
    session = scheduling.run_job_now(job.id, debug=True)
    log = JobQueueLogEntry.objects.get(entry=job)
    client = client_for(boss)

    index = client.get(reverse("admin:index")).content.decode()
    assert "Scheduled tasks" in index and "Job queue entries" in index and "Job queue log entries" in index
    html = client.get(TASKS).content.decode()
    assert "Scheduled tasks in CRONUS" in html and "?status__exact=not_ready" in html
    assert "90006 Sleep" in html and "Not ready" in html and "it broke" in html
    html = client.get(reverse("admin:sessions_scheduling_scheduledtask_change", args=[task_id])).content.decode()
    assert "&quot;seconds&quot;: &quot;3" in html and "Traceback: line 1" in html and "builtins.ValueError" in html
    html = client.get(ENTRIES).content.decode()
    job = entry(job.id)
    assert "Job queue entries in CRONUS" in html and job.describe_recurrence() in html
    assert (
        f'href="{reverse("sessions_app:session", args=[session.id])}"' in html
        and '<span style="color:#c62828">Error</span>' in html
    )
    html = client.get(reverse("admin:sessions_scheduling_jobqueueentry_change", args=[job.id])).content.decode()
    assert 'id="recent-runs"' in html and "planned failure" in html and f"?entry__id__exact={job.id}" in html
    assert client.get(ADD_ENTRY).status_code == 200
    html = client.get(LOG, {"entry__id__exact": job.id}).content.decode()
    assert "planned failure" in html and "Error" in html
    html = client.get(reverse("admin:sessions_scheduling_jobqueuelogentry_change", args=[log.id])).content.decode()
    assert "write_then_fail" in html and 'name="_save"' not in html


# Scheduled tasks.


def test_task_actions_set_ready_and_cancel(clerk):
    waiting = scheduling.create_task("No-op", company="CRONUS", ready=False)
    later = scheduling.create_task("No-op", company="CRONUS", not_before=clock.now() + timedelta(hours=1))
    client = client_for(clerk)
    assert 'value="cancel"' in client.get(TASKS).content.decode()
    response = act(client, TASKS, "set_ready", waiting)
    assert task(waiting).status == "ready" and f"Set 1 task ready: {waiting}." in messages_of(response)
    response = act(client, TASKS, "cancel", waiting, later)
    assert task(waiting).status == "cancelled" and task(later).status == "cancelled"
    response = act(client, TASKS, "cancel", later)
    assert response.status_code == 200 and f"Could not cancel 1 task (finished already): {later}." in messages_of(
        response
    )
    response = act(client, TASKS, "set_ready", later)
    assert f"Could not set 1 task ready (started or finished already): {later}." in messages_of(response)
    assert task(later).status == "cancelled"


def test_tasks_are_read_only_and_their_actions_need_the_change_permission(viewer):
    task_id = scheduling.create_task("No-op", company="CRONUS", ready=False)
    client = client_for(viewer)
    html = client.get(TASKS).content.decode()
    assert "90007 No-op" in html and 'value="cancel"' not in html and 'value="set_ready"' not in html
    act(client, TASKS, "cancel", task_id)
    assert task(task_id).status == "not_ready"
    change = reverse("admin:sessions_scheduling_scheduledtask_change", args=[task_id])
    assert client.get(change).status_code == 200
    assert client.post(change, {}).status_code == 403
    assert client.get(reverse("admin:sessions_scheduling_scheduledtask_add")).status_code == 403
    assert client.post(reverse("admin:sessions_scheduling_scheduledtask_delete", args=[task_id])).status_code == 403


# Job queue entries.


def test_entry_actions_set_ready_on_hold_restart_and_run_now(clerk):
    job = scheduling.add_job("No-op", company="CRONUS", ready=False)
    client = client_for(clerk)
    html = client.get(ENTRIES).content.decode()
    assert all(f'value="{a}"' in html for a in ("set_ready", "set_on_hold", "run_now", "run_now_inline", "restart"))
    act(client, ENTRIES, "set_ready", job.id)
    assert entry(job.id).status == "ready" and entry(job.id).username == "clerk"
    act(client, ENTRIES, "set_on_hold", job.id)
    assert entry(job.id).status == "on_hold"

    response = act(client, ENTRIES, "run_now", job.id)
    session = BackgroundSession.objects.get(origin=f"job:{job.id}:1")
    assert session.status == "queued" and session.username == "clerk"
    assert entry(job.id).status == "in_process" and entry(job.id).session_id == session.id
    assert f'href="/sessions/{session.id}/"' in response.content.decode()
    # In process: every change is refused with a message, never a 500.
    for action in ("run_now", "run_now_inline", "set_ready", "set_on_hold", "restart"):
        response = act(client, ENTRIES, action, job.id)
        assert response.status_code == 200
        assert any("in process" in m for m in messages_of(response)), action
    assert BackgroundSession.objects.count() == 1


def test_run_now_inline_finishes_the_session_and_show_error_shows_the_traceback(clerk):
    who = scheduling.add_job("Who Am I", company="CRONUS", ready=False)
    fails = scheduling.add_job("Write Then Fail", company="CRONUS", ready=False, max_attempts=1)
    client = client_for(clerk)
    response = act(client, ENTRIES, "run_now_inline", who.id)
    session = BackgroundSession.objects.get(origin=f"job:{who.id}:1")
    assert (session.status, session.mode, session.result) == ("succeeded", "inline", "clerk")
    assert f"Ran Who Am I (entry {who.id}) inline in session {session.id}: succeeded" in messages_of(response)[
        0
    ].replace(f'<a href="/sessions/{session.id}/">{session.id}</a>', str(session.id))
    assert entry(who.id).status == "on_hold" and entry(who.id).last_outcome == "success"

    response = act(client, ENTRIES, "run_now_inline", fails.id)
    assert "planned failure" in messages_of(response)[0]
    assert (
        entry(fails.id).last_outcome == "error"
        and BackgroundSession.objects.get(origin=f"job:{fails.id}:1").status == "failed"
    )
    response = act(client, ENTRIES, "show_error", fails.id, who.id)
    html = response.content.decode()
    assert response.status_code == 200 and "planned failure" in html and "Traceback" in html
    assert f'id="job-error-{fails.id}"' in html and "write_then_fail" in html and "No error." in html

    act(client, ENTRIES, "restart", fails.id)
    restarted = entry(fails.id)
    assert (restarted.status, restarted.attempts, restarted.error_message) == ("ready", 0, "")


def test_run_now_needs_the_start_permission_and_says_why(clerk):
    clerk.user_permissions.remove(Permission.objects.get(codename="start_session"))
    job = scheduling.add_job("No-op", company="CRONUS", ready=False)
    response = act(client_for(User.objects.get(pk=clerk.pk)), ENTRIES, "run_now", job.id)
    assert response.status_code == 200 and any("may not start sessions" in m for m in messages_of(response))
    assert not BackgroundSession.objects.exists()


def test_entry_actions_need_the_change_permission(viewer):
    job = scheduling.add_job("No-op", company="CRONUS", ready=False)
    client = client_for(viewer)
    html = client.get(ENTRIES).content.decode()
    assert 'value="show_error"' in html
    for action in ("set_ready", "run_now", "run_now_inline", "restart", "set_on_hold"):
        assert f'value="{action}"' not in html
        act(client, ENTRIES, action, job.id)
    assert entry(job.id).status == "on_hold" and not BackgroundSession.objects.exists()
    assert client.get(ADD_ENTRY).status_code == 403
    change = reverse("admin:sessions_scheduling_jobqueueentry_change", args=[job.id])
    assert client.get(change).status_code == 200
    assert client.post(change, entry_form(codeunit="90007", params="{}")).status_code == 403
    assert (
        client.get(LOG).status_code == 200
        and client.get(reverse("admin:sessions_scheduling_jobqueuelogentry_add")).status_code == 403
    )


def test_a_user_sees_only_the_companies_they_may_work_in(clerk):
    mine = scheduling.create_task("No-op", company="CRONUS", ready=False)
    theirs = scheduling.create_task("Who Am I", company="CRONUS UK", ready=False)
    my_job = scheduling.add_job("No-op", company="CRONUS", description="mine", ready=False)
    their_job = scheduling.add_job("Who Am I", company="CRONUS UK", description="theirs", ready=False)
    scheduling.run_job_now(their_job.id, debug=True)
    client = client_for(clerk)

    html = client.get(TASKS).content.decode()
    assert f'value="{mine}"' in html and f'value="{theirs}"' not in html and "?company=CRONUS+UK" not in html
    assert client.get(reverse("admin:sessions_scheduling_scheduledtask_change", args=[theirs])).status_code == 302
    act(client, TASKS, "cancel", theirs)
    assert task(theirs).status == "not_ready"

    html = client.get(ENTRIES).content.decode()
    assert "mine" in html and "theirs" not in html
    assert client.get(reverse("admin:sessions_scheduling_jobqueueentry_change", args=[their_job.id])).status_code == 302
    act(client, ENTRIES, "run_now", their_job.id)
    assert entry(their_job.id).run_count == 1 and BackgroundSession.objects.count() == 1
    assert "theirs" not in client.get(LOG).content.decode()
    assert entry(my_job.id).status == "on_hold"


def test_the_superuser_sees_the_job_queue_of_the_company_they_switch_to(boss):
    scheduling.add_job("No-op", company="CRONUS", description="in cronus", ready=False)
    scheduling.add_job("No-op", company="CRONUS UK", description="in the uk", ready=False)
    client = client_for(boss)
    html = client.get(ENTRIES).content.decode()
    assert "in cronus" in html and "in the uk" not in html
    client.post(reverse("sessions_app:switch_company"), {"company": "CRONUS UK"})
    html = client.get(ENTRIES).content.decode()
    assert "in the uk" in html and "in cronus" not in html and "Job queue entries in CRONUS UK" in html


def test_a_user_without_a_company_gets_no_job_queue_admin():
    outsider = make_user("outsider", CLERK_PERMS, companies=())
    scheduling.add_job("No-op", company="CRONUS", ready=False)
    client = client_for(outsider)
    assert client.get(ENTRIES).status_code == 403 and client.get(LOG).status_code == 403
    assert "Job queue entries" not in client.get(reverse("admin:index")).content.decode()


# The add and change forms.


def test_adding_an_entry_validates_its_parameters_and_leaves_it_on_hold(clerk):
    client = client_for(clerk)
    response = client.post(ADD_ENTRY, entry_form(**{"run_on_mondays": "on", "starting_time": "02:00"}))
    assert response.status_code == 302, response.content.decode()
    job = JobQueueEntry.objects.get()
    assert (job.company, job.status, job.codeunit_id, job.codeunit_name) == ("CRONUS", "on_hold", 90006, "Sleep")
    assert job.params == {"seconds": "2"} and job.category == "NIGHT" and job.username == "clerk"
    assert job.timeout == timedelta(minutes=10) and (job.weekdays, job.starting_time) == ({0}, time(2))


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"cron": "every tuesday"}, "cron", "is not a cron expression that will match"),
        ({"cron": "* * * * *", "run_on_fridays": "on"}, "cron", "not both"),
        ({"minutes_between_runs": "30"}, "run_on_mondays", "needs at least one weekday"),
        ({"codeunit": "12345"}, "codeunit", "Select a valid choice"),
        ({"timeout": "30 00:00:00"}, "timeout", "Between 1 and 86400 seconds (24 hours, the SESSIONS_MAX_TIMEOUT"),
        ({"max_attempts": "0"}, "max_attempts", "At least 1."),
    ],
)
def test_a_bad_entry_shows_a_form_error_and_writes_nothing(clerk, overrides, field, message):
    response = client_for(clerk).post(ADD_ENTRY, entry_form(**overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors and message in " ".join(errors[field]), errors
    assert not JobQueueEntry.objects.exists()


def test_changing_a_ready_entry_puts_it_on_hold_and_an_entry_in_process_cannot_be_changed(clerk):
    job = scheduling.add_job("No-op", company="CRONUS", ready=False)
    scheduling.set_job_ready(job.id)
    client = client_for(clerk)
    change = reverse("admin:sessions_scheduling_jobqueueentry_change", args=[job.id])
    response = client.post(change, entry_form(description="renamed", codeunit="90022"), follow=True)
    assert any("is on hold now" in m for m in messages_of(response))
    job = entry(job.id)
    assert (job.description, job.codeunit_name, job.status, job.company) == ("renamed", "Who Am I", "on_hold", "CRONUS")

    scheduling.run_job_now(job.id)
    response = client.post(change, entry_form(description="again", codeunit="90007"))
    assert response.status_code == 200 and "wait for it to finish" in response.content.decode()
    assert entry(job.id).description == "renamed" and entry(job.id).status == "in_process"


def test_an_entry_added_in_the_admin_stores_only_the_parameters_given(boss):
    client = client_for(boss)
    works = entry_form(codeunit="50100", minutes_between_runs="60", run_on_mondays="on")
    works.update({"p-customer_no": "c-1", "p-vendor_no": "", "p-log_id": ""})
    response = client.post(ADD_ENTRY, works)
    assert response.status_code == 302, response.content.decode()
    # No log_id: a GUID stored here would be every run's, and the second run's insert would fail.
    assert JobQueueEntry.objects.get().params == {"customer_no": "C-1", "vendor_no": ""}

    guid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    client.post(ADD_ENTRY, entry_form(codeunit="90001", **{"p-log_id": guid, "p-result": "given"}))
    assert JobQueueEntry.objects.latest("id").params == {"log_id": guid, "result": "given"}


def test_the_admin_add_page_shows_the_codeunits_card_and_the_company_it_adds_to(boss):
    client = client_for(boss)
    html = client.get(ADD_ENTRY).content.decode()
    assert re.search(r"Adds to <strong[^>]*>CRONUS</strong>", html) and 'name="params"' not in html
    assert f'hx-get="{reverse("sessions_scheduling:job_params")}"' in html and 'hx-target="#job-params"' in html
    assert 'data-codeunit="50100"' in html and 'name="p-customer_no"' in html
    assert 'placeholder="a new value for each run when left empty"' in html  # the start form's own fields
    html = client.get(ADD_ENTRY, {"codeunit": "90008"}).content.decode()
    assert 'data-codeunit="90008"' in html and 'name="p-due"' in html and 'type="date"' in html

    client.post(reverse("sessions_app:switch_company"), {"company": "CRONUS UK"})
    assert re.search(r"Adds to <strong[^>]*>CRONUS UK</strong>", client.get(ADD_ENTRY).content.decode())
    response = client.post(ADD_ENTRY, entry_form(codeunit="90008", **{"p-code": "x-1", "p-count": "7"}))
    assert response.status_code == 302, response.content.decode()
    job = JobQueueEntry.objects.get()
    assert job.company == "CRONUS UK" and (job.params["code"], job.params["count"]) == ("X-1", 7)


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"p-seconds": "many"}, "seconds", "Enter a number."),
        ({"p-seconds": "1.23456"}, "seconds", "no more than 3 decimal places"),
    ],
)
def test_a_bad_parameter_in_the_admin_shows_on_its_field_and_writes_nothing(clerk, values, field, message):
    response = client_for(clerk).post(ADD_ENTRY, entry_form(**values))
    assert response.status_code == 200 and not JobQueueEntry.objects.exists()
    form = response.context["adminform"].form
    assert message in " ".join(form.params_form.errors[field]), form.params_form.errors
    assert "Check the parameters of 90006 Sleep below." in form.non_field_errors()
    card = re.search(r'<fieldset id="job-params-card".*?</fieldset>', response.content.decode(), re.S).group(0)
    assert message in card and f'value="{values["p-seconds"]}"' in card


def test_the_admin_change_page_shows_the_stored_parameters_on_the_card(clerk, viewer):
    job = scheduling.add_job("Insert Row", company="CRONUS", params={"result": "Grüße"}, ready=False)
    client = client_for(clerk)
    change = reverse("admin:sessions_scheduling_jobqueueentry_change", args=[job.id])
    html = client.get(change).content.decode()
    assert 'data-codeunit="90001"' in html and 'name="p-result"' in html and 'value="Grüße"' in html
    assert re.search(r"An entry of <strong[^>]*>CRONUS</strong>", html)
    assert "<pre>{\n  &quot;result&quot;: &quot;Grüße&quot;\n}</pre>" in html  # stored: pretty, no GUID
    html = client_for(viewer).get(change).content.decode()  # who may only look gets no card to edit
    assert 'id="job-params-card"' not in html and "&quot;result&quot;: &quot;Grüße&quot;" in html
    response = client.post(change, entry_form(codeunit="90001", **{"p-result": "changed", "p-log_id": ""}))
    assert response.status_code == 302, response.content.decode()
    assert entry(job.id).params == {"result": "changed"}
    # A user who may change entries but not add them gets the card of another codeunit too.
    changer = make_user("changer", ["view_jobqueueentry", "change_jobqueueentry"])
    card = client_for(changer).get(reverse("sessions_scheduling:job_params"), {"codeunit": "90006"})
    assert card.status_code == 200 and 'name="p-seconds"' in card.content.decode()


def test_parameters_show_as_pretty_json_and_the_last_outcome_as_its_label(boss):
    task_id = scheduling.create_task("Insert Row", company="CRONUS", params={"result": "Müller"}, ready=False)
    html = client_for(boss).get(reverse("admin:sessions_scheduling_scheduledtask_change", args=[task_id]))
    assert "  &quot;result&quot;: &quot;Müller&quot;" in html.content.decode()  # indented, not escaped
    job = scheduling.add_job("No-op", company="CRONUS", ready=False)
    scheduling.run_job_now(job.id, debug=True)
    html = client_for(boss).get(ENTRIES).content.decode()
    assert '<span style="color:#1a7f37">Success</span>' in html


# The job queue page.


def test_the_job_queue_page_needs_a_login_and_a_view_permission(clerk):
    response = Client().get(JOBS)
    assert response.status_code == 302 and "/login/" in response.url
    assert client_for(make_user("nobody")).get(JOBS).status_code == 403
    assert client_for(clerk).get(JOBS).status_code == 200


def test_the_job_queue_page_shows_the_current_companys_entries_and_tasks(clerk):
    later = timezone.now() + timedelta(days=2)
    planned = scheduling.add_job("No-op", company="CRONUS", description="planned job", earliest_start=later)
    ran = scheduling.add_job("Who Am I", company="CRONUS", description="ran job", ready=False)
    session = scheduling.run_job_now(ran.id, debug=True)
    uk_job = scheduling.add_job("No-op", company="CRONUS UK", description="uk job", ready=False)
    waiting_task = scheduling.create_task("Sleep", company="CRONUS", not_before=later)
    uk_task = scheduling.create_task("No-op", company="CRONUS UK")
    done_task = scheduling.create_task("No-op", company="CRONUS", ready=False)
    scheduling.cancel_task(done_task)

    html = client_for(clerk).get(JOBS).content.decode()
    assert "Job queue in CRONUS" in html and 'href="/sessions/jobs/"' in html
    row = re.search(rf'<tr id="job-{planned.id}">(.*?)</tr>', html, re.S).group(1)
    assert "planned job" in row and timezone.localtime(later).strftime("%Y-%m-%d %H:%M:%S") in row and "Ready" in row
    row = re.search(rf'<tr id="job-{ran.id}">(.*?)</tr>', html, re.S).group(1)
    assert '<td class="last-outcome status status-success">Success</td>' in row and "On hold" in row
    assert f'href="/sessions/{session.id}/"' in row
    assert timezone.localtime(entry(ran.id).last_finished_at).strftime("%Y-%m-%d %H:%M") in row
    assert f'id="job-{uk_job.id}"' not in html and "uk job" not in html
    assert f'id="task-{waiting_task}"' in html and f'id="task-{done_task}"' in html and "Cancelled" in html
    assert f'id="task-{uk_task}"' not in html
    assert html.index(f'id="task-{waiting_task}"') < html.index(f'id="task-{done_task}"')


def test_the_job_queue_page_shows_nothing_to_a_user_without_a_company():
    outsider = make_user("outsider", VIEW_PERMS, companies=())
    scheduling.add_job("No-op", company="CRONUS", description="hidden job", ready=False)
    scheduling.create_task("No-op", company="CRONUS")
    html = client_for(outsider).get(JOBS).content.decode()
    assert "You may not work in any company." in html and "hidden job" not in html and 'id="task-' not in html


def test_django_q2s_own_schedules_are_not_offered_in_the_admin(client):
    from django.contrib import admin
    from django_q.models import Schedule

    assert not admin.site.is_registered(Schedule)


def test_a_session_page_names_the_task_or_job_queue_entry_that_started_it(client):
    from django.contrib.auth.models import User

    from sessions_app.models import BackgroundSession
    from sessions_app.scheduling import api as scheduling
    from sessions_app.scheduling import dispatcher

    User.objects.create_superuser("boss", password="pw")
    client.login(username="boss", password="pw")
    task_id = scheduling.create_task("No-op", company="CRONUS")
    job = scheduling.add_job("No-op", company="CRONUS", description="Nightly count")
    dispatcher.run_once()
    by_task = BackgroundSession.objects.get(origin=f"task:{task_id}:1")
    by_job = BackgroundSession.objects.get(origin=f"job:{job.id}:1")
    forged = api.start_session("No-op", company="CRONUS", key="task-999999-1")
    page = client.get(f"/sessions/{by_task.id}/").content.decode()
    assert f"scheduled task {task_id}, attempt 1" in page
    page = client.get(f"/sessions/{by_job.id}/").content.decode()
    assert f"job queue entry {job.id} (Nightly count), run 1" in page
    assert 'id="session-origin"' not in client.get(f"/sessions/{forged.id}/").content.decode()


# The job queue page's actions: set ready, put on hold, run now, restart.


def action_url(entry_id, action):
    return reverse("sessions_scheduling:entry_action", args=[entry_id, action])


def buttons_of(html, entry_id) -> list[str]:
    row = re.search(rf'<tr id="job-{entry_id}">(.*?)</tr>', html, re.S).group(1)
    return re.findall(rf'id="job-{entry_id}-(\w+)"', row)


def failed_entry(**kwargs):
    """An entry in error: ready, one attempt allowed, and its run failed."""
    job = scheduling.add_job("Write Then Fail", company="CRONUS", max_attempts=1, **kwargs)
    scheduling.run_job_now(job.id, debug=True)
    assert entry(job.id).status == "error"
    return entry(job.id)


def test_the_job_queue_page_offers_each_action_only_where_it_applies(clerk, viewer):
    on_hold = scheduling.add_job("No-op", company="CRONUS", ready=False)
    ready = scheduling.add_job("No-op", company="CRONUS", earliest_start=timezone.now() + timedelta(days=1))
    error = failed_entry()
    finished = scheduling.add_job("No-op", company="CRONUS")
    scheduling.run_job_now(finished.id, debug=True)
    assert entry(finished.id).status == "finished"
    in_process = scheduling.add_job("No-op", company="CRONUS", ready=False)
    scheduling.run_job_now(in_process.id)

    html = client_for(clerk).get(JOBS).content.decode()
    assert buttons_of(html, on_hold.id) == ["set_ready", "run_now"]
    assert buttons_of(html, ready.id) == ["set_on_hold", "run_now"]
    assert buttons_of(html, error.id) == ["set_on_hold", "run_now", "restart"]
    assert buttons_of(html, finished.id) == ["set_ready", "run_now"]
    assert buttons_of(html, in_process.id) == []
    assert f'action="{action_url(on_hold.id, "set_ready")}"' in html and "csrfmiddlewaretoken" in html

    html = client_for(viewer).get(JOBS).content.decode()
    assert f'id="job-{on_hold.id}"' in html and buttons_of(html, on_hold.id) == []
    assert "<th>Actions</th>" not in html and 'id="add-job-form"' not in html


def test_set_ready_and_put_on_hold_from_the_page(clerk):
    job = scheduling.add_job("No-op", company="CRONUS", ready=False)
    client = client_for(clerk)
    response = client.post(action_url(job.id, "set_ready"), follow=True)
    assert response.redirect_chain[-1][0] == f"{JOBS}#job-{job.id}"
    assert messages_of(response) == [f"Set entry {job.id} ready."]
    assert (entry(job.id).status, entry(job.id).username) == ("ready", "clerk")
    assert buttons_of(response.content.decode(), job.id) == ["set_on_hold", "run_now"]

    response = client.post(action_url(job.id, "set_on_hold"), follow=True)
    assert messages_of(response) == [f"Put entry {job.id} on hold."] and entry(job.id).status == "on_hold"
    # An action that does not apply to the status (a stale page, a forged form) changes nothing.
    response = client.post(action_url(job.id, "set_on_hold"), follow=True)
    assert messages_of(response) == [f"Could not put on hold entry {job.id}: it is On hold."]
    response = client.post(action_url(job.id, "restart"), follow=True)
    assert messages_of(response) == [f"Could not restart entry {job.id}: it is On hold."]
    assert entry(job.id).status == "on_hold"
    assert client.post(action_url(job.id, "delete")).status_code == 404
    assert client.get(action_url(job.id, "set_ready")).status_code == 405


def test_run_now_from_the_page_starts_a_session_and_says_which(clerk):
    job = scheduling.add_job("No-op", company="CRONUS", ready=False)
    client = client_for(clerk)
    response = client.post(action_url(job.id, "run_now"), follow=True)
    session = BackgroundSession.objects.get(origin=f"job:{job.id}:1")
    assert (session.status, session.username, session.company) == ("queued", "clerk", "CRONUS")
    assert messages_of(response) == [f'Started No-op in 1 session: <a href="/sessions/{session.id}/">{session.id}</a>.']
    html = response.content.decode()
    assert f'<a href="/sessions/{session.id}/">{session.id}</a>.' in html  # the message's link is not escaped
    assert entry(job.id).status == "in_process" and buttons_of(html, job.id) == []
    # In process: refused with a message, nothing started twice.
    response = client.post(action_url(job.id, "run_now"), follow=True)
    assert messages_of(response) == [f"Could not run entry {job.id}: it is In process."]
    assert BackgroundSession.objects.count() == 1


def test_run_now_without_the_start_permission_is_refused_with_the_apis_reason(clerk):
    clerk.user_permissions.remove(Permission.objects.get(codename="start_session"))
    job = scheduling.add_job("No-op", company="CRONUS", ready=False)
    response = client_for(User.objects.get(pk=clerk.pk)).post(action_url(job.id, "run_now"), follow=True)
    assert response.status_code == 200 and "may not start sessions" in messages_of(response)[0]
    assert messages_of(response)[0].startswith(f"Could not run entry {job.id}: ")
    assert not BackgroundSession.objects.exists()


def test_restart_from_the_page_clears_the_error_and_sets_it_ready(clerk):
    job = failed_entry()
    assert (job.attempts, bool(job.error_message)) == (1, True)
    response = client_for(clerk).post(action_url(job.id, "restart"), follow=True)
    assert messages_of(response) == [f"Restarted entry {job.id}: attempts and error cleared, ready."]
    job = entry(job.id)
    assert (job.status, job.attempts, job.error_message, job.username) == ("ready", 0, "", "clerk")


@pytest.mark.parametrize("action", ["set_ready", "set_on_hold", "run_now", "restart"])
def test_each_action_needs_the_change_permission(viewer, action):
    job = failed_entry() if action in ("set_on_hold", "restart") else scheduling.add_job("No-op", company="CRONUS")
    before = entry(job.id)
    response = client_for(viewer).post(action_url(job.id, action))
    assert response.status_code == 403
    after = entry(job.id)
    assert (after.status, after.run_count, after.attempts) == (before.status, before.run_count, before.attempts)
    assert BackgroundSession.objects.count() == (1 if action in ("set_on_hold", "restart") else 0)


@pytest.mark.parametrize("action", ["set_ready", "run_now"])
def test_an_entry_of_another_company_is_refused(clerk, boss, action):
    theirs = scheduling.add_job("No-op", company="CRONUS UK", ready=False)
    # The clerk may not work in CRONUS UK at all.
    assert client_for(clerk).post(action_url(theirs.id, action)).status_code == 404
    # The superuser may, but works in CRONUS now: as in the admin, only the current company's entries.
    client = client_for(boss)
    assert client.post(action_url(theirs.id, action)).status_code == 404
    assert entry(theirs.id).status == "on_hold" and not BackgroundSession.objects.exists()
    client.post(reverse("sessions_app:switch_company"), {"company": "CRONUS UK"})
    assert client.post(action_url(theirs.id, action)).status_code == 302
    assert entry(theirs.id).status == ("ready" if action == "set_ready" else "in_process")


def test_a_user_without_a_company_cannot_act_on_entries():
    outsider = make_user("outsider", CLERK_PERMS, companies=())
    job = scheduling.add_job("No-op", company="CRONUS", ready=False)
    assert client_for(outsider).post(action_url(job.id, "set_ready")).status_code == 404
    assert entry(job.id).status == "on_hold"


def csrf_token_of(html) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_the_actions_and_the_add_form_need_a_csrf_token(clerk):
    job = scheduling.add_job("No-op", company="CRONUS", ready=False)
    client = Client(enforce_csrf_checks=True)
    client.force_login(clerk)
    for action in ("set_ready", "run_now"):
        assert client.post(action_url(job.id, action)).status_code == 403
    assert client.post(ADD_JOB, add_form(**{"p-result": "x"})).status_code == 403
    assert entry(job.id).status == "on_hold" and JobQueueEntry.objects.count() == 1
    assert not BackgroundSession.objects.exists()

    token = csrf_token_of(client.get(JOBS).content.decode())
    assert client.post(action_url(job.id, "set_ready"), {"csrfmiddlewaretoken": token}).status_code == 302
    assert entry(job.id).status == "ready"
    assert client.post(ADD_JOB, add_form(csrfmiddlewaretoken=token)).status_code == 302
    assert JobQueueEntry.objects.count() == 2


# Adding an entry from the page.

ADD_JOB = reverse("sessions_scheduling:add_entry")
JOB_PARAMS = reverse("sessions_scheduling:job_params")


def add_form(**overrides):
    data = {
        "company": "CRONUS",
        "codeunit": "90001",  # Insert Row: log_id (a new GUID when empty) and result
        "description": "",
        "category": "",
        "timeout": "",
        "earliest_start": "",
        "expires_at": "",
        "starting_time": "",
        "ending_time": "",
        "minutes_between_runs": "",
        "cron": "",
        "max_attempts": "3",
        "rerun_delay": "60",
        "p-log_id": "",
        "p-result": "",
    }
    return {**data, **overrides}


def test_the_page_offers_an_add_form_for_the_current_company_with_the_codeunits_card(clerk):
    html = client_for(clerk).get(JOBS).content.decode()
    assert 'id="add-job-form"' in html and re.search(r"Adds to <strong[^>]*>CRONUS</strong>", html)
    assert 'name="company" value="CRONUS"' in html
    assert f'hx-get="{JOB_PARAMS}"' in html and 'hx-target="#job-params"' in html
    # The card of the first codeunit, and of the one the query names (the form's second step without htmx).
    assert 'data-codeunit="50100"' in html and 'name="p-customer_no"' in html
    html = client_for(clerk).get(JOBS, {"codeunit": "90008"}).content.decode()
    assert 'data-codeunit="90008"' in html and 'name="p-due"' in html and 'type="date"' in html
    assert '<option value="90008" selected>' in html


def test_the_parameter_card_is_the_start_forms_generated_form(clerk, viewer):
    client = client_for(clerk)
    card = client.get(JOB_PARAMS, {"codeunit": "90001"}).content.decode()
    start = client.get(reverse("sessions_app:start", args=[90001])).content.decode()
    for field in ('name="p-log_id"', 'name="p-result"', 'placeholder="a new value for each run when left empty"'):
        assert field in card and field in start
    assert "<form" not in card and "Parameters of 90001 Insert Row" in card
    assert "takes no parameters" in client.get(JOB_PARAMS, {"codeunit": "90007"}).content.decode()
    assert client.get(JOB_PARAMS, {"codeunit": "12345"}).status_code == 404
    assert client.get(JOB_PARAMS, {"codeunit": "x"}).status_code == 404
    assert client_for(viewer).get(JOB_PARAMS, {"codeunit": "90001"}).status_code == 403


def test_adding_an_entry_stores_only_the_parameters_given_and_leaves_it_on_hold(clerk):
    client = client_for(clerk)
    response = client.post(
        ADD_JOB,
        add_form(
            description="night rows",
            category="night",
            timeout="600",
            weekdays=["mon", "fri"],
            starting_time="02:00",
            ending_time="04:00",
            minutes_between_runs="30",
            **{"p-result": "hello"},
        ),
        follow=True,
    )
    job = JobQueueEntry.objects.get()
    assert response.redirect_chain[-1][0] == f"{JOBS}#job-{job.id}"
    assert messages_of(response) == [
        f"Added entry {job.id} (Insert Row) to CRONUS, on hold: set it ready to run it as scheduled."
    ]
    assert (job.company, job.status, job.codeunit_id, job.description, job.username) == (
        "CRONUS",
        "on_hold",
        90001,
        "night rows",
        "clerk",
    )
    # The GUID left empty is not stored: each run makes its own.
    assert job.params == {"result": "hello"}
    assert (job.weekdays, job.starting_time, job.ending_time, job.minutes_between_runs) == (
        {0, 4},
        time(2),
        time(4),
        30,
    )
    assert (job.category, job.timeout, job.max_attempts, job.rerun_delay) == ("NIGHT", timedelta(minutes=10), 3, 60)
    assert buttons_of(response.content.decode(), job.id) == ["set_ready", "run_now"]

    guid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    client.post(ADD_JOB, add_form(ready="on", **{"p-log_id": guid}))
    given = JobQueueEntry.objects.latest("id")
    assert given.params == {"log_id": guid, "result": ""} and given.status == "ready"
    assert given.earliest_start is None and given.describe_recurrence() == "once"


def test_an_entry_added_ready_with_a_start_and_every_type_of_parameter(clerk):
    start = timezone.localtime() + timedelta(days=1)
    response = client_for(clerk).post(
        ADD_JOB,
        add_form(
            codeunit="90008",
            ready="on",
            earliest_start=start.strftime("%Y-%m-%dT%H:%M"),
            cron="15 3 * * *",
            **{"p-code": "ab-1", "p-count": "5", "p-amount": "1.50", "p-due": "2030-01-31", "p-flag": "on"},
        ),
    )
    assert response.status_code == 302, response.content.decode()
    job = JobQueueEntry.objects.get()
    assert job.params == {
        "code": "AB-1",
        "text": "",
        "count": 5,
        "amount": "1.50",
        "due": "2030-01-31",
        "flag": True,
        "ref": None,
    }
    assert job.status == "ready" and job.cron == "15 3 * * *"
    assert timezone.localtime(job.earliest_start).strftime("%H:%M") == "03:15"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"cron": "every tuesday"}, "cron", "is not a cron expression that will match"),
        ({"cron": "* * * * *", "weekdays": ["fri"]}, "cron", "not both"),
        ({"minutes_between_runs": "30"}, "weekdays", "needs at least one weekday"),
        ({"starting_time": "05:00", "ending_time": "04:00", "weekdays": ["mon"]}, "ending_time", "after the starting"),
        ({"codeunit": "12345"}, "codeunit", "Select a valid choice"),
        ({"timeout": "0"}, "timeout", "greater than or equal to 1"),
        ({"max_attempts": "0"}, "max_attempts", "greater than or equal to 1"),
        ({"weekdays": ["someday"]}, "weekdays", "Select a valid choice"),
    ],
)
def test_a_bad_entry_from_the_page_shows_a_form_error_and_writes_nothing(clerk, overrides, field, message):
    response = client_for(clerk).post(ADD_JOB, add_form(**overrides))
    assert response.status_code == 400
    errors = response.context["add_form"].errors
    assert field in errors and message in " ".join(errors[field]), errors
    assert not JobQueueEntry.objects.exists()
    html = response.content.decode()
    assert '<details id="add-job" open>' in html  # the form stays open, with what was typed


def test_bad_parameters_show_on_the_card_and_write_nothing(clerk):
    response = client_for(clerk).post(
        ADD_JOB, add_form(codeunit="90008", description="kept", **{"p-code": "", "p-count": "5000"})
    )
    assert response.status_code == 400
    errors = response.context["params"].errors
    assert "required" in errors["code"][0] and "1000" in errors["count"][0]
    html = response.content.decode()
    assert 'data-codeunit="90008"' in html and 'value="kept"' in html and 'value="5000"' in html
    assert not JobQueueEntry.objects.exists()


def test_an_add_form_shown_for_one_company_does_not_add_to_another(boss):
    client = client_for(boss)
    client.post(reverse("sessions_app:switch_company"), {"company": "CRONUS UK"})
    response = client.post(ADD_JOB, add_form(company="CRONUS"))
    assert response.status_code == 400 and not JobQueueEntry.objects.exists()
    assert "The current company is CRONUS UK now, not CRONUS" in response.content.decode()
    assert client.post(ADD_JOB, add_form(company="CRONUS UK")).status_code == 302
    assert JobQueueEntry.objects.get().company == "CRONUS UK"


def test_adding_needs_the_add_and_start_permissions_and_a_company(viewer, clerk):
    assert client_for(viewer).post(ADD_JOB, add_form()).status_code == 403
    outsider = make_user("outsider", CLERK_PERMS, companies=())
    assert client_for(outsider).post(ADD_JOB, add_form()).status_code == 403
    clerk.user_permissions.remove(Permission.objects.get(codename="start_session"))
    client = client_for(User.objects.get(pk=clerk.pk))
    assert 'id="add-job-form"' not in client.get(JOBS).content.decode()
    assert client.post(ADD_JOB, add_form()).status_code == 403
    assert not JobQueueEntry.objects.exists()
    assert client.get(ADD_JOB).status_code == 302


def test_the_job_queue_page_sends_its_tables_again_only_when_they_changed_and_looks_often_only_while_busy(clerk):
    client = client_for(clerk)
    live_url = reverse("sessions_scheduling:jobs_live")

    def looks() -> tuple[str, str]:
        html = client.get(JOBS).content.decode()
        block = re.search(r'<div id="job-queue-live" hx-get="([^"]+)" hx-trigger="every (\w+)"', html)
        return block.group(1), block.group(2)

    later = scheduling.add_job(
        "No-op", company="CRONUS", ready=True, earliest_start=timezone.now() + timedelta(hours=1)
    )
    url, pace = looks()
    assert url.startswith(f"{live_url}?shown=") and pace == "10s"  # nothing runs or is due: it looks seldom
    assert client.get(url).status_code == 204  # the same tables (CSRF tokens aside): nothing to send
    assert client.get(live_url, {"shown": "something-else"}).status_code == 200

    scheduling.set_job_on_hold(later.id)
    changed = client.get(url)  # what the open page asks next
    assert changed.status_code == 200 and "On hold" in changed.content.decode()
    assert re.search(r'hx-trigger="every 10s"', changed.content.decode())

    due = scheduling.add_job("No-op", company="CRONUS", ready=True)  # due now: about to run
    assert looks()[1] == "2s"
    scheduling.run_job_now(due.id)  # in process while its session is queued
    JobQueueEntry.objects.filter(pk=due.pk).update(earliest_start=timezone.now() + timedelta(hours=1))
    assert looks()[1] == "2s"
    JobQueueEntry.objects.filter(pk=due.pk).update(status="on_hold")
    assert looks()[1] == "10s"
    task = scheduling.create_task("No-op", company="CRONUS", not_before=timezone.now() + timedelta(seconds=5))
    assert looks()[1] == "2s"  # a task due within seconds
    ScheduledTask.objects.filter(pk=task).update(not_before=timezone.now() + timedelta(hours=1))
    assert looks()[1] == "10s"


def test_an_entry_added_in_the_admin_is_announced_with_its_status_as_people_read_it(clerk):
    response = client_for(clerk).post(ADD_ENTRY, entry_form(), follow=True)
    (message,) = [str(m) for m in response.context["messages"]]
    entry = JobQueueEntry.objects.get()
    assert f"Job {entry.id} nightly sleep in CRONUS (On hold)" in message and "on_hold" not in message
