"""Web views and admin: login, permissions, company access, CSRF, and no work on a GET."""

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings
from django.urls import reverse

from demo.models import Customer
from sessions_app.api import run_codeunit, start_session
from sessions_app.companies import use_company
from sessions_app.models import BackgroundSession, CompanyAccess
from sessions_app.templatetags.sessions_format import duration, pretty_json

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
        "debug",
    ):
        assert f'name="{field}"' in html
    assert 'name="on_commit"' not in html  # a web request has no open transaction of its own to wait for
    assert '<option value="CRONUS"' in html and "CRONUS UK" not in html  # only the user's companies


def test_defaults_show_as_placeholders_and_an_empty_field_takes_its_default(clerk):
    """A default is a placeholder, not a value typed for the user; left empty, the record's default applies."""
    client = client_for(clerk)
    html = client.get(reverse("sessions_app:start", args=[90008])).content.decode()
    count = re.search(r'<input[^>]*name="p-count"[^>]*>', html).group(0)
    assert 'placeholder="0 when left empty"' in count and "value=" not in count
    form = {"company": "CRONUS", "p-code": "A1", "p-due": "2026-01-02", "p-ref": "", "p-text": "", "p-count": ""}
    response = client.post(reverse("sessions_app:start", args=[90008]), {**form, "p-amount": "2.50"})
    assert response.status_code == 302, response.content.decode()[-2000:]
    s = BackgroundSession.objects.get()
    assert (s.params["count"], s.params["text"], s.params["amount"]) == (0, "", "2.50")


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
        assert f'id="session-{uk.id}"' not in client.get(reverse("sessions_app:dashboard_table")).content.decode()
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
    assert "Succeeded" in html and re.search(r'id="works-elapsed">Elapsed \d\.\d\d s<', html) and "hx-get" not in html


# --- the list: live refresh, login, the session page, formats, filters ------


def test_the_works_status_tells_the_customer_table_to_reload_once_the_session_has_finished(clerk):
    client = client_for(clerk)
    queued = start_session("The Works", company="CRONUS", params={"customer_no": "a", "vendor_no": "b"})
    response = client.get(reverse("demo:works_status", args=[queued.id]))
    assert "HX-Trigger" not in response.headers and "hx-get" in response.content.decode()  # still polling
    done = run_codeunit("No-op", company="CRONUS")
    response = client.get(reverse("demo:works_status", args=[done.id]))
    assert json.loads(response.headers["HX-Trigger"]) == {"session-finished": {"id": done.id, "status": "succeeded"}}
    # The table listens for that event and reloads itself (only itself) from the page.
    html = client.get(reverse("demo:customers")).content.decode()
    table = re.search(r'<div class="table-wrap" id="customer-table"[^>]*>', html).group(0)
    assert 'hx-trigger="session-finished from:body"' in table and 'hx-select="#customer-table"' in table


def test_a_user_who_is_not_staff_signs_in_through_the_sessions_login_page_and_out_again():
    make_user("clerk", [("sessions_app", "view_backgroundsession")], ["CRONUS"], staff=False)
    client = Client()
    response = client.get(reverse("sessions_app:dashboard"))
    assert response.status_code == 302 and response.url == "/sessions/login/?next=/sessions/"
    # The admin's login turns a user who is not staff away ...
    refused = client.post(
        "/admin/login/?next=/sessions/", {"username": "clerk", "password": "pw", "next": "/sessions/"}
    )
    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    # ... the app's own login page admits them.
    page = client.get(response.url)
    assert page.status_code == 200 and 'id="login-form"' in page.content.decode()
    assert "sessions_app/login.html" in [t.name for t in page.templates]
    wrong = client.post(response.url, {"username": "clerk", "password": "nope", "next": "/sessions/"})
    assert wrong.status_code == 200 and "Please enter a correct username and password" in wrong.content.decode()
    signed_in = client.post(response.url, {"username": "clerk", "password": "pw", "next": "/sessions/"})
    assert signed_in.status_code == 302 and signed_in.url == "/sessions/"
    html = client.get("/sessions/").content.decode()
    assert "<h1>Sessions</h1>" in html
    assert re.search(r'<form method="post" action="/sessions/logout/" id="logout-form">', html)
    # Without a next, the login page leads to the dashboard.
    again = Client().post(reverse("sessions_app:login"), {"username": "clerk", "password": "pw"})
    assert again.url == "/sessions/"
    # Signing out is a POST; a GET signs nobody out.
    assert client.get(reverse("sessions_app:logout")).status_code == 405
    out = client.post(reverse("sessions_app:logout"), follow=True)
    assert out.redirect_chain == [("/sessions/login/", 302)] and "You have signed out." in out.content.decode()
    assert client.get("/sessions/").status_code == 302


def test_the_session_page_has_status_progress_and_buttons_on_top_and_stop_only_while_active(clerk):
    client = client_for(clerk)
    queued = start_session("No-op", company="CRONUS")
    html = client.get(reverse("sessions_app:session", args=[queued.id])).content.decode()
    order = [
        html.index(m) for m in ('id="session-status"', 'id="stop-button"', 'id="rerun-button"', 'id="session-details"')
    ]
    assert order == sorted(order) and html.index('id="session-log"') > order[-1]
    live = client.get(reverse("sessions_app:session_live", args=[queued.id])).content.decode()
    assert re.search(r'<div id="session-live" hx-get="[^"]+/live/" hx-trigger="every 1s" hx-swap="outerHTML">', live)
    assert 'id="stop-button"' in live and 'hx-preserve="true"' in live

    done = run_codeunit("Insert Row", company="CRONUS", params={"result": "ok"})
    for name in ("sessions_app:session", "sessions_app:session_live"):
        html = client.get(reverse(name, args=[done.id])).content.decode()
        assert '<div id="session-live">' in html and "hx-trigger" not in html  # polling stops
        assert 'id="stop-button"' not in html and 'id="rerun-button"' in html and "hx-preserve" not in html


def test_the_dashboard_polls_every_second_while_a_session_is_active_and_every_ten_seconds_otherwise(clerk):
    client = client_for(clerk)
    run_codeunit("No-op", company="CRONUS")
    for name in ("sessions_app:dashboard", "sessions_app:dashboard_table"):
        html = client.get(reverse(name)).content.decode()
        assert re.search(r'<div id="dashboard-table" hx-get="/sessions/table/" hx-trigger="every 10s"', html)
    start_session("No-op", company="CRONUS")
    for name in ("sessions_app:dashboard", "sessions_app:dashboard_table"):
        html = client.get(reverse(name)).content.decode()
        assert re.search(r'<div id="dashboard-table" hx-get="/sessions/table/" hx-trigger="every 1s"', html)
    # Filtered to finished sessions, nothing shown is active.
    html = client.get(reverse("sessions_app:dashboard"), {"status": "succeeded", "company": "CRONUS"}).content.decode()
    assert 'hx-get="/sessions/table/?company=CRONUS&amp;status=succeeded" hx-trigger="every 10s"' in html


@pytest.mark.parametrize(
    "value, text",
    [
        (None, ""),
        (timedelta(seconds=3.04), "3.04 s"),
        (0.2, "0.20 s"),
        (0, "0.00 s"),
        (0.004, "< 0.01 s"),
        (59.994, "59.99 s"),
        (59.996, "1 min"),
        (timedelta(minutes=2, seconds=5), "2 min 5 s"),
        (timedelta(minutes=2, seconds=5.4), "2 min 5 s"),
        (timedelta(hours=1, minutes=2, seconds=30), "1 h 2 min"),
        (timedelta(hours=12), "12 h"),
        (timedelta(days=2, hours=3, minutes=4), "2 d 3 h"),
        ("nonsense", ""),
    ],
)
def test_durations_are_humanised(value, text):
    assert duration(value) == text


def test_times_have_seconds_durations_are_humanised_and_parameters_and_results_are_pretty_json(clerk):
    s = run_codeunit("Insert Row", company="CRONUS", params={"result": "first"})
    client = client_for(clerk)
    html = client.get(reverse("sessions_app:session", args=[s.id])).content.decode()
    params = re.search(r'<pre id="session-params">(.*?)</pre>', html, re.S).group(1)
    assert params == pretty_json(s.params).replace('"', "&quot;") and "'result'" not in html
    assert "\n  &quot;result&quot;: &quot;first&quot;" in params  # indented, double quotes: JSON, not a repr
    result = re.search(r'<pre id="session-result">(.*?)</pre>', html, re.S).group(1)
    assert result == pretty_json(s.result).replace('"', "&quot;")
    assert re.search(r'id="session-elapsed">(\d+\.\d\d|&lt; 0\.01) s<', html)
    assert "Timeout</th><td>12 h</td>" in html
    assert re.search(r"<th>Started</th><td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</td>", html)
    row = client.get(reverse("sessions_app:dashboard_table")).content.decode()
    assert re.search(r'<td class="elapsed">(\d+\.\d\d|&lt; 0\.01) s</td>', row)
    assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</td>", row)


def test_a_finished_session_that_did_not_succeed_shows_no_progress_bar(clerk):
    client = client_for(clerk)
    rows = {
        status: BackgroundSession.objects.create(
            codeunit_id=90007,
            codeunit_name="No-op",
            company="CRONUS",
            status=status,
            progress_done=4,
            progress_total=10,
        )
        for status in ("running", "failed", "stopped")
    }
    table = client.get(reverse("sessions_app:dashboard_table")).content.decode()
    for status, s in rows.items():
        live = client.get(reverse("sessions_app:session_live", args=[s.id])).content.decode()
        row = re.search(rf'<tr id="session-{s.id}">.*?</tr>', table, re.S).group(0)
        for html in (live, row):
            if status == "running":
                assert '<progress max="100" value="40">' in html
            else:
                assert "<progress" not in html and "40% when it ended" in html


def test_a_bogus_status_filter_is_ignored(clerk):
    ok = run_codeunit("No-op", company="CRONUS")
    queued = start_session("No-op", company="CRONUS")
    client = client_for(clerk)
    for name in ("sessions_app:dashboard", "sessions_app:dashboard_table"):
        response = client.get(reverse(name), {"status": "bogus"})
        html = response.content.decode()
        assert response.status_code == 200 and f'id="session-{ok.id}"' in html and f'id="session-{queued.id}"' in html
        assert "bogus" not in html  # nor carried into the polling URL
    assert client.get(reverse("sessions_app:dashboard"), {"company": "Nowhere"}).status_code == 404


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


def test_the_works_on_selected_customers_changes_each_of_them_and_says_so(clerk):
    with use_company("CRONUS"):
        for no in ("C1", "C2", "C3"):
            Customer.objects.create(no=no, name=no)
    client = client_for(clerk)
    url = reverse("admin:demo_customer_changelist")
    form = client.post(url, {"action": "run_the_works_inline", "_selected_action": ["C2", "C3"]}).content.decode()
    explanation = re.search(r'<p id="action-explanation">(.*?)</p>', form, re.S).group(1)
    assert "50101 The Works for a Customer sets each selected customer&#x27;s address" in explanation
    assert "2 sessions, one per customer" in explanation and "50100 The Works changes the first customer" in explanation
    client.post(
        url, {"action": "run_the_works_inline", "_selected_action": ["C2", "C3"], "apply": "1", "p-vendor_no": "v1"}
    )
    assert [s.codeunit_id for s in BackgroundSession.objects.order_by("id")] == [50101, 50101]
    with use_company("CRONUS"):
        assert dict(Customer.objects.values_list("no", "address")) == {"C1": "", "C2": "C2 V1", "C3": "C3 V1"}
    # The seed's codeunit stays the seed's: the first customer, whatever customer_no says.
    run_codeunit("The Works", company="CRONUS", params={"customer_no": "C3", "vendor_no": "v2"})
    with use_company("CRONUS"):
        assert dict(Customer.objects.values_list("no", "address")) == {"C1": "C3 V2", "C2": "C2 V1", "C3": "C3 V1"}


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


def test_admin_rerun_with_edited_parameters_does_not_offer_the_generated_guid_again(clerk):
    s = run_codeunit("Insert Row", company="CRONUS", params={"result": "first"})
    client = client_for(clerk)
    url = reverse("admin:sessions_app_backgroundsession_changelist")
    html = client.post(url, {"action": "rerun_edited", "_selected_action": [s.id]}).content.decode()
    assert 'name="p-log_id"' in html and s.params["log_id"] not in html  # the first run's row has it
    client.post(url, {"action": "rerun_edited", "_selected_action": [s.id], "apply": "1", "p-result": "first"})
    again = BackgroundSession.objects.exclude(pk=s.id).get()
    assert again.params["log_id"] and again.params["log_id"] != s.params["log_id"]


def test_company_scoped_admin_is_hidden_without_a_company(outsider):
    client = client_for(outsider)
    assert client.get(reverse("admin:demo_customer_changelist")).status_code == 403
    assert "Customers" not in client.get(reverse("admin:index")).content.decode()


def test_a_session_page_and_its_admin_page_stay_under_a_megabyte_with_the_longest_log_and_error(client):
    """A 5 MB error and a thousand log lines of characters HTML escapes five-fold: both pages stay bounded."""
    import uuid

    from sessions_app.models import SessionEvent

    s = run_codeunit(
        "Awkward Result",
        company="CRONUS",
        params={"log_id": str(uuid.uuid4()), "kind": "5mb-error"},
        raise_errors=False,
    )
    SessionEvent.objects.bulk_create(
        SessionEvent(session_id=s.id, kind="log", message="<&>" * 166) for _ in range(1000)
    )
    client.force_login(User.objects.create_superuser("big-page", password="pw"))
    for url in (f"/sessions/{s.id}/", f"/admin/sessions_app/backgroundsession/{s.id}/change/"):
        page = client.get(url)
        assert page.status_code == 200 and len(page.content) < 1_000_000, (url, len(page.content))
        assert b"too much for one page" in page.content


def test_json_fields_start_empty_on_every_form_that_shows_them(client):
    """The Django Task codeunit's Args and Kwargs: an empty box saying what empty means, never ``null``."""
    from sessions_app.backends import codeunit_id

    def boxes(html: str) -> dict:
        found = dict(re.findall(r'<textarea name="p-(args|kwargs)"[^>]*>(.*?)</textarea>', html, re.S))
        assert 'placeholder="[] when left empty"' in html and 'placeholder="{} when left empty"' in html
        return {name: value.strip() for name, value in found.items()}

    client.force_login(User.objects.create_superuser("boss", password="pw"))
    task = codeunit_id()
    start_page = client.get(reverse("sessions_app:start", args=[task])).content.decode()
    assert boxes(start_page) == {"args": "", "kwargs": ""}
    job_card = client.get(reverse("sessions_scheduling:job_params"), {"codeunit": task}).content.decode()
    assert boxes(job_card) == {"args": "", "kwargs": ""}  # the job queue page's and the admin's add forms

    response = client.post(
        reverse("sessions_app:start", args=[task]),
        {"company": "CRONUS", "timeout": "", "p-task": "tests.testapp.tasks.add", "p-args": "", "p-kwargs": ""},
    )
    assert response.status_code == 302
    s = BackgroundSession.objects.get()
    assert (s.params["args"], s.params["kwargs"]) == ([], {})  # empty means empty
    edited = client.post(
        reverse("admin:sessions_app_backgroundsession_changelist"),
        {"action": "rerun_edited", "_selected_action": [s.id]},
    ).content.decode()
    assert boxes(edited) == {"args": "", "kwargs": ""}
    given = start_session(task, company="CRONUS", params={"task": "tests.testapp.tasks.add", "args": [1, 2]})
    edited = client.post(
        reverse("admin:sessions_app_backgroundsession_changelist"),
        {"action": "rerun_edited", "_selected_action": [given.id]},
    ).content.decode()
    assert boxes(edited) == {"args": "[1, 2]", "kwargs": ""}  # what it was given, as it was given


# Links a user may follow, and the pages that say "not allowed" or "not found".


def nav_links(html: str) -> list[str]:
    nav = re.search(r'<nav class="sessions-nav".*?</nav>', html, re.S).group(0)
    return re.findall(r"<a [^>]*>([^<]+)</a>", nav)


@pytest.mark.parametrize(
    "perms, staff, links",
    [
        ([("sessions_app", "view_backgroundsession")], False, ["Sessions", "Codeunits"]),
        ([("sessions_scheduling", "view_jobqueueentry")], False, ["Codeunits", "Job queue"]),
        ([("sessions_scheduling", "view_scheduledtask")], True, ["Codeunits", "Job queue", "Admin"]),
        (
            [("sessions_app", "view_backgroundsession"), ("demo", "view_customer")],
            True,
            ["Sessions", "Codeunits", "Admin"],
        ),
    ],
)
def test_the_navigation_offers_only_the_pages_the_user_may_open(perms, staff, links):
    user = make_user("someone", perms, ["CRONUS"], staff=staff)
    client = client_for(user)
    html = client.get(reverse("sessions_app:codeunits")).content.decode()
    assert nav_links(html) == links
    assert ("Demo: customers" in html) == (("demo", "view_customer") in perms)
    for label, name in (("Sessions", "sessions_app:dashboard"), ("Job queue", "sessions_scheduling:jobs")):
        assert (client.get(reverse(name)).status_code == 200) == (label in links)


def test_not_allowed_and_not_found_are_the_apps_own_pages_with_a_way_back(viewer, settings):
    settings.DEBUG = True  # not Django's technical 404 page either: the app's views answer themselves
    client = client_for(viewer)
    for url, status, message in (
        (reverse("sessions_app:start", args=[50100]), 403, "You may not start sessions."),
        (reverse("sessions_scheduling:jobs"), 403, "You may not see the job queue."),
        (reverse("sessions_app:session", args=[999]), 404, "Session 999 does not exist."),
        (reverse("sessions_app:start", args=[1]), 404, "Codeunit 1 is not registered."),
    ):
        response = client.get(url, HTTP_REFERER="http://testserver/sessions/")
        assert response.status_code == status
        assert [t.name for t in response.templates][:2] == ["sessions_app/error.html", "sessions_app/base.html"]
        html = response.content.decode()
        assert f'<p class="errornote" id="error-message">{message}</p>' in html
        assert re.findall(r'<p id="ways-back">(.*?)</p>', html) == [
            '<a href="http://testserver/sessions/">Back to the previous page</a> · <a href="/sessions/">Sessions</a>'
        ]
    # A referrer of another site is no way back.
    html = client.get(reverse("sessions_scheduling:jobs"), HTTP_REFERER="https://elsewhere.example/").content.decode()
    assert "elsewhere" not in html and '<a href="/sessions/">Sessions</a>' in html
    # The app forces no project-wide 403.html or 404.html on its host project: its page has a name of its own.
    templates = Path(__file__).resolve().parent.parent / "sessions_app" / "templates"
    assert not [p for p in templates.rglob("*.html") if p.name in ("403.html", "404.html", "500.html")]


def test_the_demo_project_uses_the_apps_pages_for_the_rest_of_its_site():
    """``handler403`` in project/urls.py: the demo's own views and the admin say "not allowed" alike."""
    outsider = client_for(make_user("nobody", [("demo", "view_customer")], []))  # staff, in no company
    for url, message in (
        (reverse("demo:customers"), "You may not work in any company."),
        (reverse("admin:demo_customer_changelist"), "Your account may not open this page."),
    ):
        response = outsider.get(url)
        assert response.status_code == 403
        assert "sessions_app/error.html" in [t.name for t in response.templates]
        assert message in response.content.decode()


def test_the_admins_sign_in_page_says_where_users_who_are_not_staff_sign_in(viewer):
    html = Client().get(reverse("admin:login")).content.decode()
    assert re.search(
        r'Not a staff account\?\s*<a href="/sessions/login/">Sign in to the background sessions pages</a>', html
    )
    not_staff = make_user("plain", [("sessions_app", "view_backgroundsession")], ["CRONUS"], staff=False)
    response = client_for(not_staff).get(reverse("admin:index"), follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0].startswith(reverse("admin:login"))
    assert re.search(
        r'plain is not a staff account.*?<a href="/sessions/">go to the background sessions pages</a>', html, re.S
    )


def test_stopping_a_running_session_leaves_no_message_behind_once_it_has_stopped(clerk):
    from django.utils import timezone

    s = start_session("No-op", company="CRONUS")
    BackgroundSession.objects.filter(pk=s.id).update(status="running", started_at=timezone.now())  # as a worker would
    client = client_for(clerk)
    page = client.post(reverse("sessions_app:stop", args=[s.id]), {"comment": "wrong one"}, follow=True)
    html = page.content.decode()
    assert "is stopping" not in html and 'class="messagelist"' not in html  # no message to outlive the stop
    assert 'id="session-stop-requested">Stop requested by clerk: wrong one</p>' in html  # the live part says it
    BackgroundSession.objects.filter(pk=s.id).update(status="stopped", finished_at=timezone.now())
    live = client.get(reverse("sessions_app:session_live", args=[s.id])).content.decode()
    assert "Stopped" in live and 'id="session-stop-requested"' not in live and "is stopping" not in live
    # A queued one is cancelled at once: that message stays true.
    queued = start_session("No-op", company="CRONUS")
    page = client.post(reverse("sessions_app:stop", args=[queued.id]), follow=True)
    assert [str(m) for m in page.context["messages"]] == [f"Session {queued.id} was cancelled before it started."]


def test_a_rerun_links_to_the_session_it_runs_again(clerk):
    first = run_codeunit("No-op", company="CRONUS")
    client = client_for(clerk)
    response = client.post(reverse("sessions_app:rerun", args=[first.id]), follow=True)
    again = BackgroundSession.objects.exclude(pk=first.id).get()
    html = response.content.decode()
    assert (
        f'<span id="session-rerun-of">re-run of <a href="/sessions/{first.id}/">session {first.id}</a></span>' in html
    )
    assert 'id="session-rerun-of"' not in client.get(reverse("sessions_app:session", args=[first.id])).content.decode()
    assert again.rerun_of == first.id
