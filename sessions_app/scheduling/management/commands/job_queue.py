"""``manage.py job_queue``: list, add, set ready, put on hold and run job queue entries."""

import argparse
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from sessions_app import api as sessions
from sessions_app.exceptions import SessionStartError
from sessions_app.management.commands._base import (
    FAILED_STATUSES,
    TIMEOUT_HELP,
    add_param_argument,
    bad_input,
    collect_params,
    could_not,
    id_hint,
    int_between,
    positive_int,
    start_refused,
    timeout_seconds,
)
from sessions_app.scheduling import api
from sessions_app.scheduling.exceptions import JobQueueError
from sessions_app.scheduling.management.commands._scheduling import ListingCommand, first_line, parse_when, when
from sessions_app.scheduling.models import JobQueueEntry, JobStatus

# add_job's arguments, as this command's options name them: its refusals say what the user typed.
ADD_OPTIONS = {
    "weekdays": "--weekdays",
    "starting_time": "--start",
    "ending_time": "--end",
    "minutes_between_runs": "--every",
    "earliest_start": "--earliest-start",
    "expires_at": "--expires",
    "cron": "--cron",
    "max_attempts": "--max-attempts",
    "rerun_delay": "--rerun-delay",
    "category": "--category",
    "description": "--description",
    "timeout": "--timeout",
}
OPTION_HINTS = {"weekdays": " (e.g. --weekdays mon-fri, or --cron instead)"}


def in_options(errors: dict[str, list[str]]) -> str:
    """An entry's errors, each after the option to change ("--weekdays: A recurring entry needs ...")."""
    return "; ".join(
        f"{ADD_OPTIONS[field]}: {' '.join(messages).rstrip('.')}{OPTION_HINTS.get(field, '')}."
        for field, messages in errors.items()
    )


def parse_time(text: str):
    try:
        return datetime.strptime(text.strip(), "%H:%M").time()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time of day (HH:MM)") from None


class Command(ListingCommand):
    help = (
        "The job queue: list entries (the default), add one, set it ready, on hold, restart it or run it now. "
        "Exit 1: the entry is in process, its category is busy, or (run --debug/--wait) the run failed; "
        "2: bad input, or an unknown entry, codeunit, company or user (nothing was changed)."
    )

    list_help = "job queue entries (default)"

    def add_actions(self, actions):

        add = actions.add_parser("add", help="add an entry; print its id")
        add.add_argument("codeunit", help="codeunit id or name")
        add.add_argument("--company", required=True, help="company name, in any case")
        add_param_argument(add)
        add.add_argument("--description", default="")
        add.add_argument("--on-hold", action="store_true", help="add it on hold instead of ready")
        add.add_argument("--earliest-start", type=parse_when, metavar="ISO-DATETIME")
        add.add_argument("--expires", type=parse_when, metavar="ISO-DATETIME", help="it never starts after this")
        add.add_argument("--weekdays", metavar="DAYS", help="recurring on these days, e.g. mon-fri,sat")
        add.add_argument("--start", type=parse_time, metavar="HH:MM", help="starting time (with --weekdays)")
        add.add_argument("--end", type=parse_time, metavar="HH:MM", help="ending time (with --weekdays)")
        add.add_argument("--every", type=positive_int, metavar="MINUTES", help="minutes between runs (default: daily)")
        add.add_argument("--cron", default="", metavar="EXPR", help="a cron expression instead of weekdays and times")
        # The fields' ranges on every database (a small and a 32-bit positive integer); the entry checks the rest.
        add.add_argument("--max-attempts", type=int_between(None, 2**15 - 1), default=3, metavar="N")
        add.add_argument("--rerun-delay", type=int_between(0, 2**31 - 1), default=60, metavar="SECONDS")
        add.add_argument("--category", default="", metavar="CODE", help="entries of a category run one at a time")
        add.add_argument("--timeout", type=timeout_seconds, metavar="SECONDS", help=TIMEOUT_HELP)
        add.add_argument("--user", metavar="USERNAME", help="its sessions run as this user")
        add.add_argument("--json", action="store_true", help="print JSON")

        ready = actions.add_parser("ready", help="set an entry ready (attempts and error cleared)")
        ready.add_argument("id", help="entry id")
        ready.add_argument("--user", metavar="USERNAME", help="its sessions run as this user from now on")
        actions.add_parser("hold", help="put an entry on hold").add_argument("id", help="entry id")
        actions.add_parser("restart", help="set an entry ready again, e.g. after an error").add_argument(
            "id", help="entry id"
        )
        run = actions.add_parser("run", help="run an entry now, whatever its schedule; print the session id")
        run.add_argument("id", help="entry id")
        run.add_argument("--debug", action="store_true", help="run inline in this process and print the outcome")
        run.add_argument("--wait", action="store_true", help="wait for the background run and print the outcome")

    def list_arguments(self, parser, default):
        parser.add_argument("--company", default=default, help="company name, in any case")
        parser.add_argument("--status", choices=JobStatus.values, default=default)
        parser.add_argument("--json", action="store_true", default=default or False)

    def handle_list(self, options):
        entries = JobQueueEntry.objects.all()
        entries = self.in_company(entries, options["company"])
        if options["status"]:
            entries = entries.filter(status=options["status"])
        entries = list(entries)
        if options["json"]:
            self.write_json([e.as_dict() for e in entries])
            return
        if not entries:
            self.stdout.write("No job queue entries.")
            return
        self.stdout.write(
            f"{'ID':>5}  {'COMPANY':<12} {'DESCRIPTION':<24} {'CODEUNIT':<24} {'STATUS':<10} {'NEXT RUN':<19} "
            f"{'RECURRENCE':<36} {'CATEGORY':<8} {'TRIES':>5} {'LAST':<8} ERROR"
        )
        for e in entries:
            name = f"{e.codeunit_id} {e.codeunit_name}"
            tries = f"{e.attempts}/{e.max_attempts}"
            self.stdout.write(
                f"{e.id:>5}  {e.company:<12} {first_line(e.description, 24):<24} {name:<24} {e.status:<10} "
                f"{when(e.earliest_start):<19} {e.describe_recurrence():<36} {e.category:<8} {tries:>5} "
                f"{e.last_outcome:<8} {first_line(e.error_message)}"
            )

    def _entry(self, entry_id) -> JobQueueEntry:
        try:
            return api.get_job(entry_id)
        except JobQueueError as e:
            raise self._refused(e, entry_id) from e

    @staticmethod
    def _refused(e: JobQueueError, entry_id):
        """Exit 2 for an unknown entry (with the entries there are) or a user who may not; 1 for the rest."""
        if e.reason == "not_found":
            hint = id_hint(
                entry_id,
                JobQueueEntry.objects.all(),
                noun="job queue entries",
                none="There are no job queue entries.",
                listing="`manage.py job_queue`",
            )
            return bad_input(str(e) + hint)
        if e.reason == "permission_denied":  # the --user named: nothing was changed
            return bad_input(str(e))
        return could_not(str(e))  # in process, its category busy, or the run could not start

    def _user(self, username):
        if username is None:
            return None
        User = get_user_model()
        try:
            return User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist:
            raise bad_input(f"User {username!r} does not exist.") from None

    def _next_run(self, entry) -> str:
        return when(entry.earliest_start) or "as soon as possible"

    def handle_add(self, options):
        params = collect_params(options["param"])
        weekdays = [day for day in (options["weekdays"] or "").split(",") if day.strip()]
        if options["weekdays"] is not None and not weekdays:
            raise bad_input(f"--weekdays {options['weekdays']!r} names no weekday.")
        try:
            entry = api.add_job(
                options["codeunit"],
                company=options["company"],
                params=params,
                description=options["description"],
                ready=not options["on_hold"],
                earliest_start=options["earliest_start"],
                expires_at=options["expires"],
                weekdays=weekdays,
                starting_time=options["start"],
                ending_time=options["end"],
                minutes_between_runs=options["every"],
                cron=options["cron"],
                max_attempts=options["max_attempts"],
                rerun_delay=options["rerun_delay"],
                category=options["category"],
                timeout=options["timeout"],
                user=self._user(options["user"]),
            )
        except SessionStartError as e:
            if e.errors and set(e.errors) <= set(ADD_OPTIONS):
                raise bad_input(f"Invalid job queue entry: {in_options(e.errors)}") from e
            raise start_refused(e, codeunit=options["codeunit"], company=options["company"]) from e
        if options["json"]:
            self.write_json(entry.as_dict())
            return
        self.stdout.write(str(entry.id))
        self.stdout.write(
            f"Job {entry.id}: {entry.codeunit_id} {entry.codeunit_name} in {entry.company} "
            f"({entry.get_status_display().lower()}, {entry.describe_recurrence()}, next run {self._next_run(entry)})"
        )

    def _change(self, action, entry_id, **kwargs) -> JobQueueEntry:
        entry = self._entry(entry_id)
        try:
            return action(entry.id, **kwargs)
        except JobQueueError as e:
            raise self._refused(e, entry.id) from e

    def handle_ready(self, options):
        user = self._user(options["user"])
        entry = self._change(api.set_job_ready, options["id"], user=user)
        self.stdout.write(f"Job {entry.id} is ready; next run {self._next_run(entry)}.")

    def handle_hold(self, options):
        entry = self._change(api.set_job_on_hold, options["id"])
        self.stdout.write(f"Job {entry.id} is on hold.")

    def handle_restart(self, options):
        entry = self._change(api.restart_job, options["id"])
        self.stdout.write(f"Job {entry.id} was restarted; next run {self._next_run(entry)}.")

    def handle_run(self, options):
        entry = self._entry(options["id"])
        try:
            session = api.run_job_now(entry.id, debug=options["debug"])
        except JobQueueError as e:  # in process, its category busy, or it could not start
            raise self._refused(e, entry.id) from e
        self.stdout.write(str(session.id))
        self.stdout.write(f"Session {session.id}: job {entry.id} {session.codeunit_name} in {session.company}")
        if options["wait"] and session.is_active:
            try:
                session = sessions.wait_session(session.id)
            except KeyboardInterrupt:
                raise CommandError(
                    f"Stopped waiting; session {session.id} is still {session.status}.", returncode=130
                ) from None
        if session.is_active:
            return
        style = self.style.SUCCESS if session.status == "succeeded" else self.style.ERROR
        elapsed = f" in {session.elapsed.total_seconds():.3f}s" if session.elapsed is not None else ""
        self.stdout.write(style(f"Session {session.id} {session.status}{elapsed}"))
        if session.result is not None:
            self.stdout.write(f"Result: {session.result}")
        if session.error:
            self.stdout.write(f"Error: {session.error}")
        if session.status in FAILED_STATUSES:
            raise could_not(f"Session {session.id} {session.status}.")
