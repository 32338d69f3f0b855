"""``manage.py start_session``: start a codeunit in a session, or inline with ``--debug``; ``--wait`` shows it."""

import shutil
import time

from django.core.management.base import CommandError

from sessions_app import api
from sessions_app.exceptions import SessionStartError
from sessions_app.models import SessionEvent

from ._base import (
    FAILED_STATUSES,
    TIMEOUT_HELP,
    SessionsCommand,
    add_param_argument,
    collect_params,
    could_not,
    default_company,
    isatty,
    start_refused,
    timeout_seconds,
)


class Command(SessionsCommand):
    help = (
        "Start a codeunit in a background session and print its id. "
        "Exit 0: started (or, with --wait or --debug, succeeded); 1: it could not start now (a limit reached, "
        "the registry unavailable), or the session failed, timed out or was stopped; "
        "2: bad input or an unknown codeunit or company (nothing was started)."
    )

    def add_arguments(self, parser):
        parser.add_argument("codeunit", help="codeunit id or name")
        parser.add_argument("--company", help="company name (default: the first company)")
        add_param_argument(parser)
        parser.add_argument("--timeout", type=timeout_seconds, metavar="SECONDS", help=TIMEOUT_HELP)
        parser.add_argument("--key", help="idempotency key: a used key returns that session")
        parser.add_argument("--debug", action="store_true", help="run inline in this process")
        parser.add_argument("--wait", action="store_true", help="wait, show progress, print the outcome")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args, **options):
        params = collect_params(options["param"])
        company = options["company"] or default_company()
        try:
            session = api.start_session(
                options["codeunit"],
                company=company,
                params=params,
                timeout=options["timeout"],
                key=options["key"],
                debug=True if options["debug"] else False,
            )
        except SessionStartError as e:
            raise start_refused(e, codeunit=options["codeunit"], company=company, multiline=True) from e

        if not options["json"]:
            self.stdout.write(str(session.id))
            cu = f"{session.codeunit_id} {session.codeunit_name}"
            self.stdout.write(f"Session {session.id}: {cu} in {session.company} ({session.status})")
        if options["wait"] and session.is_active:
            session = self._wait(session, quiet=options["json"])
        if options["json"]:
            self.write_json(session.as_dict())
        elif not session.is_active:
            self._print_outcome(session)
        if not session.is_active and session.status in FAILED_STATUSES:
            raise could_not(f"Session {session.id} {session.status}.")

    def _wait(self, session, quiet: bool):
        from tqdm import tqdm

        bar = None
        if not quiet and isatty(self.stdout):
            # A terminal that reports no size (a bare pty) gets 80x24, not a hidden bar.
            size = shutil.get_terminal_size()
            bar = tqdm(
                total=None,
                desc=f"Session {session.id}",
                unit="step",
                file=self.stderr._out,
                ncols=size.columns,
                nrows=size.lines,
            )
        last_event = 0
        try:
            while True:
                session = api.get_session(session.id)
                if not quiet:
                    for event in SessionEvent.objects.filter(
                        session_id=session.id, id__gt=last_event, kind=SessionEvent.Kind.LOG
                    ):
                        last_event = event.id
                        line = f"  {event.at:%H:%M:%S} {event.message}"
                        bar.write(line) if bar is not None else self.stdout.write(line)
                if bar is not None and session.progress_total:
                    bar.total = session.progress_total
                    bar.n = session.progress_done or 0
                    bar.set_postfix_str(session.progress_message)
                    bar.refresh()
                if not session.is_active:
                    return session
                time.sleep(0.1)
        except KeyboardInterrupt:
            raise CommandError(
                f"Stopped waiting; session {session.id} is still {session.status}.", returncode=130
            ) from None
        finally:
            if bar is not None:
                bar.close()

    def _print_outcome(self, session):
        elapsed = session.elapsed
        line = f"Session {session.id} {session.status}"
        if elapsed is not None:
            line += f" in {elapsed.total_seconds():.3f}s"
        style = self.style.SUCCESS if session.status == "succeeded" else self.style.ERROR
        self.stdout.write(style(line))
        if session.result is not None:
            self.stdout.write(f"Result: {session.result}")
        if session.error:
            self.stdout.write(f"Error: {session.error}")
