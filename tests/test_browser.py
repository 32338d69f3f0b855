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


def sign_in(page, next_url):
    page.goto(f"/admin/login/?next={next_url}")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "operator-pw")
    page.click("input[type=submit]")
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
    expect(page.locator("#works-session-status")).to_have_text("Succeeded", timeout=TIMEOUT_MS)
    expect(page.locator("#works-elapsed")).to_contain_text("Elapsed 0:00:0")
    s = BackgroundSession.objects.get()
    assert (s.company, s.status, s.username) == ("CRONUS UK", "succeeded", "operator")
    page.reload()
    expect(page.locator("table")).to_contain_text("HELLO WORLD")

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

    page.fill("#stop-form input[name=comment]", "stopped in the browser")
    page.click("#stop-button")
    expect(page.locator("#session-status")).to_have_text("Stopped", timeout=5_000)
    expect(page.locator("#session-error")).to_contain_text("stopped in the browser")
    shot(page, "session-stopped")
    # The dashboard, left open, shows the stop without a reload.
    expect(dashboard.locator(f"#recent-sessions #session-{s.id} .status")).to_have_text("Stopped", timeout=5_000)
    wait_until(lambda: BackgroundSession.objects.get().status == "stopped", timeout=5)


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
    expect(row.locator(".last-outcome")).to_have_text("success", timeout=TIMEOUT_MS)
    expect(row.locator(".job-status")).to_have_text("Ready")
    expect(row.locator(".next-run")).not_to_have_text("")
    shot(page, "job-queue")
    run = job.log_entries.get()
    assert run.status == "success" and BackgroundSession.objects.get(pk=run.session_id).username == "operator"
