"""Web views and admin: login, permissions, company access, CSRF, and no work on a GET."""

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings
from django.urls import reverse

from demo.models import Customer
from sessions_app.api import run_codeunit, start_session
from sessions_app.companies import use_company
from sessions_app.models import BackgroundSession, CompanyAccess

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]

ALL_PERMS = [
    ("sessions_app", "view_backgroundsession"),
    ("sessions_app", "start_session"),
    ("sessions_app", "stop_session"),
    ("sessions_app", "rerun_session"),
    ("demo", "view_customer"),
    ("demo", "change_customer"),
]


def make_user(name, perms=(), companies=(), staff=True):
    user = User.objects.create_user(name, password="pw", is_staff=staff)
    for app, codename in perms:
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    for company in companies:
        CompanyAccess.objects.create(user=user, company=company)
    return user


def client_for(user, **kwargs):
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def clerk():
    return make_user("clerk", ALL_PERMS, ["CRONUS"])


@pytest.fixture
def viewer():
    return make_user("viewer", [("sessions_app", "view_backgroundsession"), ("demo", "view_customer")], ["CRONUS"])


@pytest.fixture
def outsider():
    return make_user("outsider", ALL_PERMS, [])


def works_form(company="CRONUS", **params):
    data = {"company": company, "p-customer_no": "hello", "p-vendor_no": "world", "timeout": "", **params}
    return data


URLS_GET = ["sessions_app:dashboard", "sessions_app:dashboard_table", "sessions_app:codeunits", "demo:customers"]


@pytest.mark.parametrize("name", URLS_GET)
def test_anonymous_users_are_sent_to_log_in(name):
    response = Client().get(reverse(name))
    assert response.status_code == 302 and "/login/" in response.url


def test_anonymous_users_cannot_start_stop_or_read_sessions():
    s = start_session("No-op", company="CRONUS")
    client = Client()
    for url in [
        reverse("sessions_app:start", args=[50100]),
        reverse("sessions_app:stop", args=[s.id]),
        reverse("sessions_app:rerun", args=[s.id]),
        reverse("demo:start_the_works"),
    ]:
        response = client.post(url, works_form())
        assert response.status_code == 302 and "/login/" in response.url
    for url in [reverse("sessions_app:session", args=[s.id]), reverse("sessions_app:session_status", args=[s.id])]:
        assert client.get(url).status_code == 302
    assert BackgroundSession.objects.count() == 1 and BackgroundSession.objects.get().status == "queued"


def test_a_get_never_starts_anything(clerk):
    client = client_for(clerk)
    for url in [
        reverse("sessions_app:start", args=[50100]),
        reverse("demo:customers"),
        reverse("sessions_app:dashboard"),
    ]:
        assert client.get(url, works_form()).status_code == 200
    assert client.get(reverse("demo:start_the_works")).status_code == 405
    assert not BackgroundSession.objects.exists()


def test_the_start_form_is_generated_from_the_parameter_record(clerk):
    html = client_for(clerk).get(reverse("sessions_app:start", args=[90008])).content.decode()
    for field in (
        "p-code",
        "p-text",
        "p-count",
        "p-amount",
        "p-due",
        "p-flag",
        "p-ref",
        "company",
        "timeout",
        "on_commit",
        "debug",
    ):
        assert f'name="{field}"' in html
    assert '<option value="CRONUS"' in html and "CRONUS UK" not in html  # only the user's companies


def test_starting_from_the_form_runs_the_session_as_the_user(clerk):
    response = client_for(clerk).post(reverse("sessions_app:start", args=[50100]), works_form(timeout="60"))
    s = BackgroundSession.objects.get()
    assert response.status_code == 302 and response.url == reverse("sessions_app:session", args=[s.id])
    assert (s.user, s.company, s.status, s.params["customer_no"], s.timeout.total_seconds()) == (
        clerk,
        "CRONUS",
        "queued",
        "HELLO",
        60,
    )


def test_field_errors_are_shown_inline_and_nothing_is_written(clerk):
    response = client_for(clerk).post(
        reverse("sessions_app:start", args=[50100]), works_form(**{"p-customer_no": "x" * 21, "p-log_id": "nope"})
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Ensure this value has at most 20 characters" in html and "Enter a valid UUID" in html
    assert not BackgroundSession.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"company": "CRONUS UK"},
        {"company": "Nowhere"},
        {"timeout": "-5"},
        {"timeout": "lots"},
        {"p-customer_no": "a\x00b"},
    ],
)
def test_malformed_or_forged_form_input_is_a_400_with_nothing_written(clerk, body):
    response = client_for(clerk).post(reverse("sessions_app:start", args=[50100]), works_form(**body))
    assert response.status_code == 400
    assert not BackgroundSession.objects.exists()


def test_the_codeunit_list_shows_every_codeunit_and_its_fields(clerk):
    html = client_for(clerk).get(reverse("sessions_app:codeunits")).content.decode()
    assert "The Works" in html and "customer_no: Code[20]" in html
    assert "code: Code[10] (required)" in html and "/sessions/codeunits/90008/start/" in html


def test_unknown_codeunit_is_404(clerk):
    assert client_for(clerk).get(reverse("sessions_app:start", args=[12345])).status_code == 404


def test_users_without_the_permission_get_403(viewer):
    s = start_session("No-op", company="CRONUS")
    client = client_for(viewer)
    assert client.post(reverse("sessions_app:start", args=[50100]), works_form()).status_code == 403
    assert client.post(reverse("sessions_app:stop", args=[s.id])).status_code == 403
    assert client.post(reverse("sessions_app:rerun", args=[s.id])).status_code == 403
    assert client.post(reverse("demo:start_the_works")).status_code == 403
    assert BackgroundSession.objects.count() == 1 and BackgroundSession.objects.get().status == "queued"
    assert client.get(reverse("sessions_app:session", args=[s.id])).status_code == 200


def test_users_without_the_company_see_nothing_of_it(clerk, outsider):
    uk = start_session("No-op", company="CRONUS UK")
    for user in (clerk, outsider):
        client = client_for(user)
        for name in ("sessions_app:session", "sessions_app:session_live", "sessions_app:session_status"):
            assert client.get(reverse(name, args=[uk.id])).status_code == 404
        assert client.post(reverse("sessions_app:stop", args=[uk.id])).status_code == 404
        assert client.post(reverse("sessions_app:rerun", args=[uk.id])).status_code == 404
        assert str(uk.id) not in client.get(reverse("sessions_app:dashboard_table")).content.decode().split("<h2>")[1]
    assert client_for(outsider).post(reverse("demo:start_the_works")).status_code == 403
    assert client_for(outsider).get(reverse("demo:customers")).status_code == 403
    assert BackgroundSession.objects.get(pk=uk.id).status == "queued" and BackgroundSession.objects.count() == 1


def test_csrf_is_enforced_on_every_state_change(clerk):
    s = start_session("No-op", company="CRONUS")
    client = client_for(clerk, enforce_csrf_checks=True)
    for url in [
        reverse("sessions_app:start", args=[50100]),
        reverse("sessions_app:stop", args=[s.id]),
        reverse("sessions_app:rerun", args=[s.id]),
        reverse("demo:start_the_works"),
        reverse("sessions_app:switch_company"),
    ]:
        assert client.post(url, works_form()).status_code == 403
    assert BackgroundSession.objects.count() == 1 and BackgroundSession.objects.get().status == "queued"


def test_switching_company_only_to_ones_the_user_may_use(clerk):
    CompanyAccess.objects.create(user=clerk, company="CRONUS UK")
    client = client_for(clerk)
    with use_company("CRONUS UK"):
        Customer.objects.create(no="UK1", name="only in the UK")
    assert "UK1" not in client.get(reverse("demo:customers")).content.decode()
    response = client.post(reverse("sessions_app:switch_company"), {"company": "CRONUS UK", "next": "/demo/customers/"})
    assert response.status_code == 302 and response.url == "/demo/customers/"
    html = client.get(reverse("demo:customers")).content.decode()
    assert "UK1" in html and 'id="current-company">CRONUS UK<' in html
    assert client.post(reverse("sessions_app:switch_company"), {"company": "Nowhere"}).status_code == 403
    evil = client.post(reverse("sessions_app:switch_company"), {"company": "CRONUS", "next": "https://evil.example/"})
    assert evil.url == "/"


def test_stop_and_rerun_buttons(clerk):
    s = start_session("No-op", company="CRONUS")
    client = client_for(clerk)
    response = client.post(reverse("sessions_app:stop", args=[s.id]), {"comment": "web stop"})
    assert response.status_code == 302
    row = BackgroundSession.objects.get(pk=s.id)
    assert row.status == "cancelled" and row.stopped_by == "clerk" and row.stop_comment == "web stop"
    response = client.post(reverse("sessions_app:rerun", args=[s.id]), {"debug": "1"})
    again = BackgroundSession.objects.exclude(pk=s.id).get()
    assert response.url == reverse("sessions_app:session", args=[again.id])
    assert (again.status, again.mode, again.user) == ("succeeded", "inline", clerk)


def test_the_session_page_shows_status_result_traceback_log_and_events(clerk):
    failed = run_codeunit("Write Then Fail", company="CRONUS", raise_errors=False)
    html = client_for(clerk).get(reverse("sessions_app:session", args=[failed.id])).content.decode()
    assert "Failed" in html and "planned failure" in html and 'id="session-traceback"' in html
    assert "write_then_fail" in html
    ok = run_codeunit("Progress And Log", company="CRONUS")
    html = client_for(clerk).get(reverse("sessions_app:session_live", args=[ok.id])).content.decode()
    assert "line 0" in html and "line 2" in html and "Succeeded" in html and "100%" in html


def test_status_json(clerk):
    s = run_codeunit("Insert Row", company="CRONUS")
    data = client_for(clerk).get(reverse("sessions_app:session_status", args=[s.id])).json()
    assert data["id"] == s.id and data["status"] == "succeeded" and data["company"] == "CRONUS"
    assert data["progress_percent"] == 100 and data["elapsed"] >= 0 and "traceback" not in data
    assert client_for(clerk).get("/sessions/999999/status.json").status_code == 404


def test_dashboard_filters_and_pages_without_counting_the_registry(clerk, django_assert_max_num_queries):
    CompanyAccess.objects.create(user=clerk, company="CRONUS UK")
    for i in range(30):
        run_codeunit("No-op", company="CRONUS" if i % 2 else "CRONUS UK")
    start_session("No-op", company="CRONUS")
    client = client_for(clerk)
    html = client.get(reverse("sessions_app:dashboard"), {"company": "CRONUS", "status": "succeeded"}).content.decode()
    rows = re.findall(r'<tr id="session-(\d+)"', html)
    assert len(rows) == 15
    assert all(BackgroundSession.objects.get(pk=int(r)).company == "CRONUS" for r in rows)
    page1 = re.findall(r'<tr id="session-(\d+)"', client.get(reverse("sessions_app:dashboard_table")).content.decode())
    page2 = re.findall(
        r'<tr id="session-(\d+)"', client.get(reverse("sessions_app:dashboard_table"), {"page": 2}).content.decode()
    )
    assert len(page1) == 1 + 25 and len(set(page1) & set(page2)) == 1  # the active one shows on both
    assert client.get(reverse("sessions_app:dashboard"), {"status": "bogus"}).status_code == 404
    assert client.get(reverse("sessions_app:dashboard"), {"company": "Nowhere"}).status_code == 404
    with django_assert_max_num_queries(12):
        client.get(reverse("sessions_app:dashboard_table"))


@override_settings(SESSIONS_DEBUG=True)
def test_the_seed_page_starts_the_works_on_post_and_shows_the_elapsed_time(clerk):
    from django.core.management import call_command

    call_command("load_demo", no_user=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    client = client_for(clerk)
    response = client.post(reverse("demo:start_the_works"), {"customer_no": "hello", "vendor_no": "world"})
    s = BackgroundSession.objects.get()
    assert response.url == f"{reverse('demo:customers')}?session={s.id}"
    html = client.get(reverse("demo:works_status", args=[s.id])).content.decode()
    assert "Succeeded" in html and 'id="works-elapsed">Elapsed 0:00:0' in html and "hx-get" not in html


# --- admin -------------------------------------------------------------------


def test_admin_customer_actions_start_one_session_per_customer_after_asking_for_parameters(clerk):
    with use_company("CRONUS"):
        for no in ("C1", "C2"):
            Customer.objects.create(no=no, name=no)
    client = client_for(clerk)
    url = reverse("admin:demo_customer_changelist")
    form = client.post(url, {"action": "run_the_works", "_selected_action": ["C1", "C2"]})
    assert form.status_code == 200 and 'name="p-vendor_no"' in form.content.decode()
    assert 'name="p-customer_no"' not in form.content.decode()
    assert not BackgroundSession.objects.exists()
    done = client.post(
        url,
        {"action": "run_the_works", "_selected_action": ["C1", "C2"], "apply": "1", "p-vendor_no": "v1"},
        follow=True,
    )
    sessions = list(BackgroundSession.objects.order_by("id"))
    assert [(s.params["customer_no"], s.params["vendor_no"], s.status) for s in sessions] == [
        ("C1", "V1", "queued"),
        ("C2", "V1", "queued"),
    ]
    assert f'href="/sessions/{sessions[0].id}/"' in done.content.decode()


def test_admin_debug_action_runs_inline_and_reports_the_error(clerk):
    with use_company("CRONUS"):
        Customer.objects.create(no="C1", name="first")
    client = client_for(clerk)
    url = reverse("admin:demo_customer_changelist")
    response = client.post(
        url, {"action": "run_the_works_inline", "_selected_action": ["C1"], "apply": "1", "p-vendor_no": "x" * 21}
    )
    assert response.status_code == 200 and "at most 20 characters" in response.content.decode()
    response = client.post(
        url,
        {"action": "run_the_works_inline", "_selected_action": ["C1"], "apply": "1", "p-vendor_no": "v9"},
        follow=True,
    )
    s = BackgroundSession.objects.get()
    assert (s.mode, s.status) == ("inline", "succeeded")
    assert "succeeded in" in response.content.decode()


def test_admin_actions_need_their_permissions(viewer):
    viewer.user_permissions.add(Permission.objects.get(codename="view_customer"))
    client = client_for(viewer)
    html = client.get(reverse("admin:demo_customer_changelist")).content.decode()
    assert "run_the_works" not in html
    response = client.post(
        reverse("admin:demo_customer_changelist"), {"action": "run_the_works", "_selected_action": ["C1"], "apply": "1"}
    )
    assert not BackgroundSession.objects.exists() and response.status_code in (200, 302)
    s = start_session("No-op", company="CRONUS")
    client.post(
        reverse("admin:sessions_app_backgroundsession_changelist"), {"action": "stop", "_selected_action": [s.id]}
    )
    assert BackgroundSession.objects.get(pk=s.id).status == "queued"


def test_admin_session_list_shows_only_the_users_companies_and_its_actions_work(clerk):
    mine = start_session("No-op", company="CRONUS")
    theirs = start_session("No-op", company="CRONUS UK")
    client = client_for(clerk)
    url = reverse("admin:sessions_app_backgroundsession_changelist")
    html = client.get(url).content.decode()
    assert f"/{mine.id}/change/" in html and f"/{theirs.id}/change/" not in html
    assert client.get(reverse("admin:sessions_app_backgroundsession_change", args=[theirs.id])).status_code == 302
    client.post(url, {"action": "stop", "_selected_action": [mine.id, theirs.id]})
    assert BackgroundSession.objects.get(pk=mine.id).status == "cancelled"
    assert BackgroundSession.objects.get(pk=theirs.id).status == "queued"
    client.post(url, {"action": "rerun_inline", "_selected_action": [mine.id]})
    again = BackgroundSession.objects.get(mode="inline")
    assert again.status == "succeeded" and again.codeunit_id == mine.codeunit_id
    detail = client.get(reverse("admin:sessions_app_backgroundsession_change", args=[again.id])).content.decode()
    assert "Succeeded" in detail and "Started" in detail


def test_admin_rerun_with_edited_parameters(clerk):
    s = run_codeunit("Insert Row", company="CRONUS", params={"result": "first"})
    client = client_for(clerk)
    url = reverse("admin:sessions_app_backgroundsession_changelist")
    form = client.post(url, {"action": "rerun_edited", "_selected_action": [s.id]})
    assert 'name="p-result"' in form.content.decode() and 'value="first"' in form.content.decode()
    client.post(url, {"action": "rerun_edited", "_selected_action": [s.id], "apply": "1", "p-result": "second"})
    again = BackgroundSession.objects.exclude(pk=s.id).get()
    assert again.params["result"] == "second" and again.status == "queued"


def test_company_scoped_admin_is_hidden_without_a_company(outsider):
    client = client_for(outsider)
    assert client.get(reverse("admin:demo_customer_changelist")).status_code == 403
    assert "Customers" not in client.get(reverse("admin:index")).content.decode()
