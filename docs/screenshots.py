"""Take the README's pictures of a running demo with Debian's Chromium, driven by Playwright.

    .venv/bin/python docs/screenshots.py --url http://127.0.0.1:8000 --password "$DEMO_ADMIN_PASSWORD"

Everything it needs it makes through the pages, as the admin: The Works from the customer list,
a failing and a long "Django Task" session (``demo.tasks.set_address`` for a customer that does not
exist, and one that pauses) from their start forms, and a job queue entry from the job queue page
(once: it is not added again on a later run). The long session is stopped at the end. The demo must
be running (``make demo``, or ``manage.py rundemo``) and its worker cluster with it.

Arguments, or the environment: ``--url`` (``SCREENSHOTS_URL``, default http://127.0.0.1:8000),
``--username`` (``DEMO_ADMIN_USERNAME``, default admin), ``--password`` (``DEMO_ADMIN_PASSWORD``),
``--out`` (default docs/screenshots beside this script), ``--chromium`` (``CHROMIUM``, default
/usr/bin/chromium).
"""

import argparse
import os
import re
import sys
from pathlib import Path

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 30_000
JOB_DESCRIPTION = "The Works on weekday nights"
LONG_PAUSE = 90  # seconds; the session is stopped once its pictures are taken
RUNNING_SHOWN_AT = 15  # percent on its progress bar when its picture is taken
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("SCREENSHOTS_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--username", default=os.environ.get("DEMO_ADMIN_USERNAME", "admin"))
    parser.add_argument("--password", default=os.environ.get("DEMO_ADMIN_PASSWORD"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "screenshots")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args(argv)
    if not args.password:
        parser.error("give the admin's password: --password or DEMO_ADMIN_PASSWORD")
    if not Path(args.chromium).exists():
        parser.error(f"{args.chromium} does not exist: apt-get install chromium, or give --chromium")
    args.url = args.url.rstrip("/")
    return args


class Shots:
    def __init__(self, out: Path):
        self.out = out
        self.taken: list[Path] = []
        out.mkdir(parents=True, exist_ok=True)

    def take(self, page, name: str, full_page: bool = False) -> None:
        page.wait_for_load_state("networkidle")
        path = self.out / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        self.taken.append(path)
        print(f"{path} ({path.stat().st_size // 1024} KB)")


def sign_in(page, username: str, password: str) -> None:
    page.goto("/sessions/login/?next=/sessions/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-button")
    page.wait_for_url(re.compile(r".*/sessions/$"))


def start_from_form(page, codeunit_id: int, params: dict) -> int:
    """Start a session from its codeunit's start form; return the session's id."""
    page.goto(f"/sessions/codeunits/{codeunit_id}/start/")
    for name, value in params.items():
        page.fill(f"#id_p-{name}", value)
    page.click("#start-form button")
    page.wait_for_url(re.compile(r".*/sessions/\d+/$"))
    return int(re.search(r"/sessions/(\d+)/$", page.url).group(1))


def set_address(no: str, address: str, pause: float = 0) -> dict:
    """The parameters of "Django Task" running the demo's ``@task`` ``set_address``."""
    return {"task": "demo.tasks.set_address", "args": f'["{no}", "{address}"]', "kwargs": f'{{"pause": {pause}}}'}


def main(argv=None) -> int:
    args = parse_args(argv)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    shots = Shots(args.out)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=args.url, viewport=DESKTOP)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        long_id = None
        try:
            sign_in(page, args.username, args.password)

            # The customer list, after The Works has run from it.
            page.goto("/demo/customers/")
            page.click("#start-the-works")
            page.wait_for_url(re.compile(r".*/demo/customers/\?session=\d+"))
            expect(page.locator("#works-session-status")).to_have_text("Succeeded")
            expect(page.locator("#works-elapsed")).to_be_visible()
            shots.take(page, "customers")

            # A failed session: the task's customer does not exist.
            failed_id = start_from_form(page, 2000000100, set_address("C99999", "Nowhere 1"))
            expect(page.locator("#session-status")).to_have_text("Failed")
            expect(page.locator("#session-traceback")).to_be_visible()
            shots.take(page, "session-failed")

            # A start form, filled in but not sent.
            page.goto("/sessions/codeunits/50100/start/")
            page.fill("#id_p-customer_no", "C00010")
            page.fill("#id_p-vendor_no", "V00010")
            shots.take(page, "start-form")

            # A session while it runs: a task that pauses, reporting its progress.
            long_id = start_from_form(page, 2000000100, set_address("C00020", "Pausing Road 1", LONG_PAUSE))
            expect(page.locator("#session-status")).to_have_text("Running")
            page.wait_for_function(  # some progress on the bar
                "min => Number(document.querySelector('#session-progress progress')?.value) >= min",
                arg=RUNNING_SHOWN_AT,
            )
            shots.take(page, "session-running")

            # The dashboard, with the running session among the finished ones; and on a phone.
            page.goto("/sessions/")
            expect(page.locator(f"#active-sessions #session-{long_id} .status")).to_have_text("Running")
            expect(page.locator(f"#recent-sessions #session-{failed_id} .status")).to_have_text("Failed")
            shots.take(page, "dashboard")
            phone = browser.new_context(base_url=args.url, viewport=PHONE, storage_state=context.storage_state())
            phone.set_default_timeout(TIMEOUT_MS)
            phone_page = phone.new_page()
            phone_page.goto("/sessions/")
            expect(phone_page.locator(f"#active-sessions #session-{long_id} .status")).to_have_text("Running")
            shots.take(phone_page, "dashboard-390", full_page=True)
            phone.close()

            # The admin's sessions list.
            page.goto("/admin/sessions_app/backgroundsession/")
            expect(page.locator("#result_list")).to_be_visible()
            shots.take(page, "admin-sessions")

            # The job queue page, with an entry added from its own form (once).
            page.goto("/sessions/jobs/")
            expect(page.locator("#job-queue-entries")).to_be_visible()
            if not page.locator("#job-queue-entries td", has_text=JOB_DESCRIPTION).count():
                page.click("#add-job > summary")
                page.select_option("#id_codeunit", "50100")
                expect(page.locator("#job-params-card")).to_have_attribute("data-codeunit", "50100")
                page.fill("#id_description", JOB_DESCRIPTION)
                page.fill("#id_p-customer_no", "C00030")
                page.fill("#id_p-vendor_no", "V00020")
                for day in ("mon", "tue", "wed", "thu", "fri"):
                    page.check(f"#id_weekdays input[value={day}]")
                page.fill("#id_starting_time", "02:00")
                page.click("#add-job-button")
                expect(page.locator(".messagelist")).to_contain_text("Added entry")
            shots.take(page, "job-queue")

            # The admin's add form of a job queue entry: the chosen codeunit's parameter card and its company.
            page.goto("/admin/sessions_scheduling/jobqueueentry/add/?codeunit=50100")
            expect(page.locator("#job-params-card")).to_have_attribute("data-codeunit", "50100")
            shots.take(page, "admin-job-queue-add")
        finally:
            if long_id is not None:  # stop the long session: the demo is left as it was, but for the rest
                page.goto(f"/sessions/{long_id}/")
                if page.locator("#stop-button").count():
                    page.fill("#stop-form input[name=comment]", "stopped by docs/screenshots.py")
                    page.click("#stop-button")
                    expect(page.locator("#session-status")).to_have_text("Stopped")
            context.close()
            browser.close()
    print(f"{len(shots.taken)} pictures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
