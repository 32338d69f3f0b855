"""Browser tests: Debian's headless Chromium, driven by Playwright, against a live server and a real qcluster."""

import os
import re
import shutil
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from sessions_app.models import BackgroundSession
from tests.conftest import BASE_DIR, wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, databases="__all__"),
]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = BASE_DIR / "var" / "screenshots"
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run `make setup-browser` (apt-get install chromium).")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # test makes between browser steps are ordinary synchronous ones.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def operator(demo_data):
    return User.objects.create_superuser("operator", password="operator-pw")


def sign_in(page, next_url, username="operator", password="operator-pw"):
    """Sign in through the app's own login page, as anyone (staff or not) does."""
    page.goto(next_url)
    page.wait_for_url(re.compile(r".*/sessions/login/\?next="))
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-button")
    page.wait_for_url(f"**{next_url}")


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_start_the_works_from_the_customer_list_and_watch_it_finish(cluster, operator, page):
    from playwright.sync_api import expect

    sign_in(page, "/demo/customers/")
    expect(page.locator("#current-company")).to_have_text("CRONUS")
    page.click("text=Switch to CRONUS UK")
    expect(page.locator("#current-company")).to_have_text("CRONUS UK")
    expect(page.locator("table")).to_contain_text("(CRONUS UK)")
    assert not BackgroundSession.objects.exists()  # opening the page started nothing

    page.click("#start-the-works")
    page.wait_for_url("**/demo/customers/?session=*")
    first_row = page.locator("#customer-rows tr").first
    assert "HELLO WORLD" not in first_row.inner_text()
    page.evaluate("document.documentElement.dataset.loadedOnce = 'yes'")  # gone if the page were reloaded
    expect(page.locator("#works-session-status")).to_have_text("Succeeded", timeout=TIMEOUT_MS)
    expect(page.locator("#works-elapsed")).to_have_text(re.compile(r"Elapsed \d\.\d\d s"))
    s = BackgroundSession.objects.get()
    assert (s.company, s.status, s.username) == ("CRONUS UK", "succeeded", "operator")
    # The rows show the session's change without a reload: the status fragment told the table to refresh.
    expect(first_row.locator(".address")).to_have_text("HELLO WORLD")
    assert page.evaluate("document.documentElement.dataset.loadedOnce") == "yes"
    shot(page, "customers-after-the-works")

    page.goto("/sessions/")
    expect(page.locator(f"#session-{s.id} .status")).to_have_text("Succeeded")
    shot(page, "dashboard")


def test_the_dashboard_updates_live_and_a_long_session_stops_from_its_page(cluster, operator, page):
    from playwright.sync_api import expect

    sign_in(page, "/sessions/codeunits/90010/start/")
    page.fill("#id_p-seconds", "600")
    page.click("#start-form button")
    page.wait_for_url(re.compile(r".*/sessions/\d+/$"))
    s = BackgroundSession.objects.get()
    expect(page.locator("#session-status")).to_have_text("Running", timeout=TIMEOUT_MS)
    expect(page.locator("#session-log")).to_contain_text("written; sleeping")

    dashboard = page.context.new_page()
    dashboard.goto("/sessions/")
    expect(dashboard.locator(f"#active-sessions #session-{s.id} .status")).to_have_text("Running")
    shot(dashboard, "dashboard-running")

    # Status, progress and the buttons come first, above the details and the log.
    assert page.locator("#stop-button").bounding_box()["y"] < page.locator("#session-details").bounding_box()["y"]
    assert page.locator("#session-status").bounding_box()["y"] < page.locator("#session-log").bounding_box()["y"]
    expect(page.locator("#session-live")).to_have_attribute("hx-trigger", "every 1s")
    # A comment being typed survives the page's polling.
    page.fill("#stop-form input[name=comment]", "stopped in the browser")
    for _ in range(2):  # two polls of the live block come and go
        with page.expect_response(lambda r: "/live/" in r.url, timeout=TIMEOUT_MS):
            pass
    expect(page.locator("#stop-form input[name=comment]")).to_have_value("stopped in the browser")
    shot(page, "session-running")
    page.click("#stop-button")
    expect(page.locator("#session-status")).to_have_text("Stopped", timeout=5_000)
    expect(page.locator(".messagelist")).to_have_count(0)  # no "Session 5 is stopping." left behind
    expect(page.locator("#session-error")).to_contain_text("stopped in the browser")
    # Finished: no Stop button, the Re-run ones stay, and the page stops polling.
    expect(page.locator("#stop-button")).to_have_count(0)
    expect(page.locator("#rerun-button")).to_be_visible()
    polls = []
    page.on("request", lambda r: polls.append(r.url) if "/live/" in r.url else None)
    page.wait_for_timeout(2_500)
    assert polls == [] and page.locator("#session-live").get_attribute("hx-trigger") is None
    shot(page, "session-stopped")
    # The dashboard, left open, shows the stop without a reload, and then polls only every 10 s.
    expect(dashboard.locator(f"#recent-sessions #session-{s.id} .status")).to_have_text("Stopped", timeout=5_000)
    expect(dashboard.locator("#dashboard-table")).to_have_attribute("hx-trigger", "every 10s", timeout=5_000)
    wait_until(lambda: BackgroundSession.objects.get().status == "stopped", timeout=5)


def test_a_user_who_is_not_staff_signs_in_on_the_sessions_login_page_and_signs_out(demo_data, page):
    from playwright.sync_api import expect

    from sessions_app.models import CompanyAccess
    from tests.test_web import make_user

    clerk = make_user("clerk", [("sessions_app", "view_backgroundsession")], staff=False)
    CompanyAccess.objects.create(user=clerk, company="CRONUS")
    page.goto("/sessions/")
    page.wait_for_url("**/sessions/login/?next=/sessions/")
    shot(page, "login")
    page.fill("#id_username", "clerk")
    page.fill("#id_password", "pw")
    page.click("#login-button")
    page.wait_for_url("**/sessions/")
    expect(page.locator("h1")).to_have_text("Sessions")
    expect(page.locator("#current-company")).to_have_text("CRONUS")
    expect(page.locator("#dashboard-table")).to_contain_text("No active sessions.")
    page.click("#logout-form button")
    page.wait_for_url("**/sessions/login/")
    expect(page.locator(".messagelist")).to_contain_text("You have signed out.")
    page.goto("/sessions/")
    page.wait_for_url("**/sessions/login/?next=/sessions/")


def test_the_pages_fit_a_phone_screen(operator, browser, live_server):
    from playwright.sync_api import expect

    from sessions_app.api import run_codeunit, start_session

    run_codeunit("The Works", company="CRONUS", params={"customer_no": "a-rather-long-number", "vendor_no": "v"})
    failed = run_codeunit("Write Then Fail", company="CRONUS", raise_errors=False)
    start_session("Write And Sleep", company="CRONUS", params={"seconds": 60})  # queued: no cluster here
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        sign_in(page, "/sessions/")
        for name, url, wait_for in [
            ("dashboard-390", "/sessions/", "#recent-sessions"),
            ("session-390", f"/sessions/{failed.id}/", "#session-traceback"),
            ("customers-390", "/demo/customers/", "#customer-rows"),
            ("codeunits-390", "/sessions/codeunits/", "table"),
            ("jobs-390", "/sessions/jobs/", "#job-queue-entries"),
        ]:
            page.goto(url)
            expect(page.locator(wait_for)).to_be_visible()
            widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            shot(page, name)
            assert widths[0] <= widths[1], f"{url} is {widths[0]} px wide on a {widths[1]} px screen"
    finally:
        context.close()


def test_a_job_queue_entry_set_ready_in_the_admin_runs_and_its_page_shows_the_outcome_live(cluster, operator, page):
    from playwright.sync_api import expect

    from sessions_app.scheduling.api import add_job

    job = add_job(
        "Count Customers",
        company="CRONUS",
        description="Browser job",
        ready=False,
        weekdays=["mon-sun"],
        minutes_between_runs=60,
    )
    sign_in(page, "/sessions/jobs/")
    row = page.locator(f"#job-{job.id}")
    expect(row.locator(".job-status")).to_have_text("On hold")
    expect(row.locator(".next-run")).to_have_text("")

    admin = page.context.new_page()
    admin.goto("/admin/sessions_scheduling/jobqueueentry/")
    admin.check(f"input[name=_selected_action][value='{job.id}']")
    admin.select_option("select[name=action]", "set_ready")
    admin.click("button[name=index]")
    expect(admin.locator(".messagelist")).to_contain_text("ready")
    shot(admin, "job-queue-admin")

    # The page left open shows the run's outcome and the next run without a reload.
    expect(row.locator(".last-outcome")).to_have_text("Success", timeout=TIMEOUT_MS)
    expect(row.locator(".job-status")).to_have_text("Ready")
    expect(row.locator(".next-run")).not_to_have_text("")
    shot(page, "job-queue")
    run = job.log_entries.get()
    assert run.status == "success" and BackgroundSession.objects.get(pk=run.session_id).username == "operator"


def test_add_a_job_queue_entry_with_parameters_on_the_page_and_run_it_now(cluster, operator, page):
    from playwright.sync_api import expect

    from demo.models import Customer
    from sessions_app.companies import use_company
    from sessions_app.scheduling.models import JobQueueEntry

    sign_in(page, "/sessions/jobs/")
    expect(page.locator("#add-job-form")).to_be_hidden()  # folded away until asked for
    page.click("#add-job > summary")
    expect(page.locator("#add-job .adds-to")).to_contain_text("Adds to CRONUS")
    # Choosing a codeunit brings its parameter card, the same generated form as its start page.
    page.select_option("#id_codeunit", "90007")
    expect(page.locator("#job-params-card")).to_contain_text("This codeunit takes no parameters.")
    page.select_option("#id_codeunit", "50100")
    expect(page.locator("#job-params-card")).to_have_attribute("data-codeunit", "50100")
    expect(page.locator("#id_p-log_id")).to_have_attribute("placeholder", "a new value for each run when left empty")
    page.fill("#id_description", "The Works from the page")
    page.fill("#id_p-customer_no", "c-7")
    page.fill("#id_p-vendor_no", "v-9")
    # Typing survives the table's looks for changes (the form is outside the live block).
    with page.expect_response(lambda r: "/sessions/jobs/live/" in r.url, timeout=TIMEOUT_MS):
        pass
    expect(page.locator("#id_p-customer_no")).to_have_value("c-7")
    shot(page, "job-queue-add")
    page.click("#add-job-button")

    expect(page.locator(".messagelist")).to_contain_text("to CRONUS, on hold")
    job = JobQueueEntry.objects.get()
    assert (job.company, job.codeunit_name, job.status, job.username) == ("CRONUS", "The Works", "on_hold", "operator")
    assert job.params == {"customer_no": "C-7", "vendor_no": "V-9"}  # no log_id: each run makes its own
    row = page.locator(f"#job-{job.id}")
    expect(row.locator(".job-status")).to_have_text("On hold")
    expect(row.locator(".job-action")).to_have_text(["Set ready", "Run now"])

    row.locator(f"#job-{job.id}-run_now").click()
    expect(page.locator(".messagelist")).to_contain_text("Started The Works in 1 session")
    # The page shows the run's outcome without a reload; run by hand, the entry stays on hold.
    expect(row.locator(".last-outcome")).to_have_text("Success", timeout=TIMEOUT_MS)
    expect(row.locator(".job-status")).to_have_text("On hold")
    job.refresh_from_db()
    session = BackgroundSession.objects.get(pk=job.session_id)
    assert (session.status, session.username, session.origin) == ("succeeded", "operator", f"job:{job.id}:1")
    assert session.params["customer_no"] == "C-7" and session.params["log_id"]
    with use_company("CRONUS"):
        assert Customer.objects.order_by("no").first().address == "C-7 V-9"
    shot(page, "job-queue-ran")


def test_add_a_job_queue_entry_in_the_admin_with_the_codeunits_parameter_card(operator, page):
    from playwright.sync_api import expect

    from sessions_app.scheduling.models import JobQueueEntry

    sign_in(page, "/sessions/jobs/")
    page.goto("/admin/sessions_scheduling/jobqueueentry/add/")
    expect(page.locator("#entry-company")).to_have_text("CRONUS")
    expect(page.locator("#job-params-card")).to_have_attribute("data-codeunit", "50100")
    # Choosing a codeunit brings its card, the same one the job queue page fetches.
    page.select_option("#id_codeunit", "90007")
    expect(page.locator("#job-params-card")).to_contain_text("This codeunit takes no parameters.")
    page.select_option("#id_codeunit", "90001")
    expect(page.locator("#job-params-card")).to_have_attribute("data-codeunit", "90001")
    expect(page.locator("#id_p-log_id")).to_have_attribute("placeholder", "a new value for each run when left empty")
    page.fill("#id_description", "Rows from the admin")
    page.fill("#id_p-result", "from the admin")
    shot(page, "job-queue-admin-add")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    job = JobQueueEntry.objects.get()
    assert (job.company, job.codeunit_name, job.status) == ("CRONUS", "Insert Row", "on_hold")
    assert job.params == {"result": "from the admin"}  # no log_id: each run makes its own


def test_adding_a_user_in_the_admin_grants_no_company_until_one_is_chosen(operator, page):
    from playwright.sync_api import expect

    from sessions_app.models import CompanyAccess

    sign_in(page, "/sessions/")
    page.goto("/admin/auth/user/add/")
    expect(page.locator("#id_company_access-0-company")).to_have_value("")  # blank, not the first company
    page.fill("#id_username", "newclerk")
    page.fill("#id_password1", "a-long-pass-1")
    page.fill("#id_password2", "a-long-pass-1")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    clerk = User.objects.get(username="newclerk")
    assert not CompanyAccess.objects.filter(user=clerk).exists()

    page.fill("#id_first_name", "Nell")  # a later change saves as it is
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    expect(page.locator(".errornote")).to_have_count(0)
    page.select_option("#id_company_access-0-company", "CRONUS UK")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    page.click("input[name=_continue]")  # saved again with its row: no duplicate
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    assert list(CompanyAccess.objects.filter(user=clerk).values_list("company", flat=True)) == ["CRONUS UK"]
    shot(page, "admin-user-company-access")


def test_a_clerk_sees_only_links_they_may_open_and_the_apps_own_error_pages(demo_data, browser, live_server):
    """A user who is not staff, with one company and the sessions only: no dead links, and no bare error pages."""
    from playwright.sync_api import expect

    from sessions_app.models import CompanyAccess
    from tests.test_web import make_user

    clerk = make_user("clerk", [("sessions_app", "view_backgroundsession")], staff=False)
    CompanyAccess.objects.create(user=clerk, company="CRONUS")
    for width, scheme in ((1280, "light"), (390, "dark")):
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": width, "height": 844}, color_scheme=scheme
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            sign_in(page, "/sessions/", username="clerk", password="pw")
            nav = page.locator(".sessions-nav a")
            expect(nav).to_have_text(["Sessions", "Codeunits"])  # no Job queue, no Admin
            expect(page.locator("#nav-customers")).to_have_count(0)  # no "Demo: customers"

            # Typed in anyway: the app's look, what went wrong, and a way back.
            for url, status, heading, message in (
                ("/sessions/jobs/", 403, "Not allowed", "You may not see the job queue."),
                ("/demo/customers/", 403, "Not allowed", "You may not see customers."),  # the project's handler
                ("/sessions/999/", 404, "Not found", "Session 999 does not exist."),
            ):
                response = page.goto(url, referer=f"{live_server.url}/sessions/")
                assert response.status == status
                expect(page.locator("#site-name")).to_have_text("Background sessions")
                expect(page.locator("#error-page h1")).to_have_text(heading)
                expect(page.locator("#error-message")).to_have_text(message)
                widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                assert widths[0] <= widths[1], (url, width, widths)
                shot(page, f"error-{status}-{width}-{scheme}")
                expect(page.locator("#ways-back a")).to_have_text(["Back to the previous page", "Sessions"])
            dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert (dark != "rgb(255, 255, 255)") == (scheme == "dark"), dark  # the admin's theme, followed
            page.click("#ways-back >> text=Sessions")
            expect(page.locator("h1")).to_have_text("Sessions")

            # The admin's sign-in page says where a user who is not staff belongs.
            page.goto("/admin/")
            page.wait_for_url("**/admin/login/?next=/admin/")
            expect(page.locator("#sessions-sign-in")).to_contain_text("clerk is not a staff account")
            page.click("#sessions-sign-in a")
            expect(page.locator("h1")).to_have_text("Sessions")
        finally:
            context.close()


def test_the_job_queue_page_looks_often_only_while_something_runs_and_swaps_only_what_changed(cluster, operator, page):
    from playwright.sync_api import expect

    from sessions_app.scheduling.api import add_job

    job = add_job("Sleep", company="CRONUS", params={"seconds": 3}, description="Polling", ready=False)
    sign_in(page, "/sessions/jobs/")
    live, row = page.locator("#job-queue-live"), page.locator(f"#job-{job.id}")
    answers = []
    page.on("response", lambda r: answers.append(r.status) if "/sessions/jobs/live/" in r.url else None)

    def mark_block():  # gone when htmx swaps the block for a new one
        page.evaluate("document.getElementById('job-queue-live').dataset.kept = 'yes'")

    # Nothing on it runs: it looks seldom, and nothing changed means nothing swapped.
    expect(live).to_have_attribute("hx-trigger", "every 10s")
    mark_block()
    with page.expect_response(lambda r: "/sessions/jobs/live/" in r.url, timeout=TIMEOUT_MS) as idle:
        pass
    assert idle.value.status == 204 and live.get_attribute("data-kept") == "yes"

    row.locator(f"#job-{job.id}-run_now").click()
    expect(page.locator(".messagelist")).to_contain_text("Started Sleep in 1 session")
    expect(row.locator(".job-status")).to_have_text("In process")
    expect(live).to_have_attribute("hx-trigger", "every 2s")  # it runs: it looks often
    mark_block()
    answers.clear()
    # While it sleeps the block stays as it is; when the run ends it is swapped once, with its outcome.
    expect(row.locator(".last-outcome")).to_have_text("Success", timeout=TIMEOUT_MS)
    assert answers[0] == 204 and answers[-1] == 200, answers
    assert live.get_attribute("data-kept") is None
    expect(row.locator(".job-status")).to_have_text("On hold")
    expect(live).to_have_attribute("hx-trigger", "every 10s")  # and back to looking seldom
    shot(page, "job-queue-idle-after-run")
