"""Shared pieces of the sessions commands.

One exit-code rule for every command: 0 done; 1 could not (the session failed, it has already
finished, the entry is in process, the database is unavailable); 2 bad input, or an id or a name
that does not exist (nothing was changed). Log lines below WARNING stay off stderr unless ``-v 2``.
"""

import argparse
import difflib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from sessions_app.companies import get_company
from sessions_app.exceptions import UnknownCompany
from sessions_app.models import Status

EXIT_DONE = 0
EXIT_COULD_NOT = 1
EXIT_BAD_INPUT = 2
EXIT_SESSION_FAILED = EXIT_COULD_NOT
FAILED_STATUSES = {Status.FAILED, Status.TIMED_OUT, Status.STOPPED, Status.LOST, Status.CANCELLED}

# The loggers whose INFO lines a command shows only with -v 2 (project/settings.py prints them on stderr).
QUIET_LOGGERS = ("sessions_app", "django-q")

# A list of choices longer than this is cut to the closest few.
MANY_CHOICES = 10
CLOSEST = 5


def bad_input(message: str) -> CommandError:
    """Bad input, or an id or a name that does not exist: exit 2."""
    return CommandError(message, returncode=EXIT_BAD_INPUT)


def could_not(message: str) -> CommandError:
    """The input was fine, but it could not be done (now): exit 1."""
    return CommandError(message, returncode=EXIT_COULD_NOT)


# Bounds of numeric arguments, so that absurd values are bad input (exit 2), never an OverflowError.
MAX_INT = 2**63 - 1  # ids and limits: SQLite's (and PostgreSQL's bigint) largest integer
MAX_DAYS = 36500  # --older-than: now minus a hundred years is still a date


def _shown(text: str) -> str:
    """The argument as an error message quotes it: a runaway number is cut short to keep the message one line."""
    return repr(text if len(text) <= 40 else text[:20] + "..." + text[-10:])


def int_between(low: int | None, high: int):
    """An argparse type: a whole number from ``low`` (None: no lower bound here) to ``high``."""

    def parse(text: str) -> int:
        import argparse

        try:
            value = int(text)
        except ValueError:
            digits = text.strip().removeprefix("-").removeprefix("+")
            if digits.isdecimal():  # more digits than int() converts
                value = None
            else:
                raise argparse.ArgumentTypeError(f"{_shown(text)} is not a whole number") from None
        if value is None or (low is not None and value < low) or value > high:
            bounds = f"at most {high}" if low is None else f"at least {low} and at most {high}"
            raise argparse.ArgumentTypeError(f"{_shown(text)} must be {bounds}")
        return value

    return parse


positive_int = int_between(1, MAX_INT)
positive_days = int_between(1, MAX_DAYS)


@contextmanager
def quiet_logs(verbosity: int) -> Iterator[None]:
    """Below ``-v 2``, raise the sessions' (and django-q's) loggers to WARNING for the block; restore them after."""
    raised = []
    if verbosity < 2:
        for name in QUIET_LOGGERS:
            logger = logging.getLogger(name)
            if logger.getEffectiveLevel() < logging.WARNING:
                raised.append((logger, logger.level))
                logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in raised:
            logger.setLevel(level)


class SessionsCommand(BaseCommand):
    def write_json(self, data) -> None:
        self.stdout.write(json.dumps(data, indent=2, default=str))

    def execute(self, *args, **options):
        # Surrogate escapes (undecodable bytes on the command line) cannot be
        # written or stored; refuse them as bad input with a clear message.
        def strings(value):
            if isinstance(value, str):
                yield value
            elif isinstance(value, (list, tuple)):
                for item in value:
                    yield from strings(item)

        for value in [*args, *options.values()]:
            for item in strings(value):
                if isinstance(item, str):
                    try:
                        item.encode("utf-8")
                    except UnicodeEncodeError:
                        raise bad_input(f"Argument {item.encode('utf-8', 'replace')!r} is not valid UTF-8.") from None
        with quiet_logs(int(options.get("verbosity", 1))):
            try:
                return super().execute(*args, **options)
            except DatabaseError as e:  # not the input: the database could not do it
                lines = str(e).strip().splitlines()
                raise could_not(f"Database error: {lines[0] if lines else type(e).__name__}") from e


class SubcommandParser(CommandParser):
    """A sub-command's parser: its errors are bad input (exit 2) from call_command() too.

    It takes ``-v`` as well, so ``tasks create ... -v 2`` shows the log lines as ``tasks -v 2 create ...`` does.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument(
            "-v",
            "--verbosity",
            type=int,
            choices=[0, 1, 2, 3],
            default=argparse.SUPPRESS,
            help="2 or more shows the INFO log lines",
        )

    def error(self, message):
        if self.called_from_command_line:
            super().error(message)
        raise bad_input(f"Error: {message}")


class ListingCommand(SessionsCommand):
    """A command of sub-commands (``handle_<action>``) whose default, ``list``, takes its options on the command too."""

    list_help = "list (default)"

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=SubcommandParser)
        # `tasks --company X` is `tasks list --company X`: the options live on both parsers.
        self.list_arguments(parser, None)
        self.list_arguments(actions.add_parser("list", help=self.list_help), argparse.SUPPRESS)
        self.add_actions(actions)

    def list_arguments(self, parser, default):
        raise NotImplementedError

    def add_actions(self, actions):
        raise NotImplementedError

    def handle(self, *args, **options):
        getattr(self, f"handle_{options.get('action') or 'list'}")(options)

    @staticmethod
    def in_company(rows, name: str | None):
        """``rows`` of the company named ``name`` (any case); all of them without a name."""
        if not name:
            return rows
        try:
            return rows.filter(company=get_company(name).name)
        except UnknownCompany as e:
            raise bad_input(str(e) + company_hint(name)) from e


def isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def parse_param(text: str) -> tuple[str, str]:
    import argparse

    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return name.strip(), value


TIMEOUT_HELP = "from 1 to SESSIONS_MAX_TIMEOUT (24 hours unless set); default SESSIONS_DEFAULT_TIMEOUT (12 hours)"


def timeout_seconds(text: str) -> float:
    """An argparse type: a timeout in seconds, within the bounds every start checks (SESSIONS_MAX_TIMEOUT, read now)."""
    import argparse
    import math

    from sessions_app import api
    from sessions_app.conf import app_settings

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a number of seconds") from None
    if math.isnan(value) or not 1 <= value <= app_settings.MAX_TIMEOUT.total_seconds():
        raise argparse.ArgumentTypeError(f"{_shown(text)} must be {api.timeout_bounds()}")
    return value


def add_param_argument(parser) -> None:
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        type=parse_param,
        metavar="KEY=VALUE",
        help="a parameter record field; repeat for each field",
    )


def collect_params(pairs) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise bad_input(f"--param {name} is given twice.")
        params[name] = value
    return params


def default_company() -> str | None:
    """The company a command works in when ``--company`` is not given: the first one."""
    from sessions_app.companies import all_companies

    companies = all_companies()
    return companies[0].name if companies else None


# Unknown names and ids: the message lists the valid choices, or the closest ones when there are many.


def _closest(given: str, labels: dict[str, str]) -> list[str]:
    """The labels whose keys are closest to ``given`` (keys compared casefolded)."""
    keys = difflib.get_close_matches(given.strip().casefold(), list(labels), n=CLOSEST, cutoff=0.5)
    return [labels[key] for key in keys]


def choices_hint(given, labels: dict[str, str], *, noun: str, listing: str) -> str:
    """``" Registered codeunits: ..."``, or the closest few of many; ``labels`` maps a casefolded key to its label."""
    values = list(dict.fromkeys(labels.values()))
    if not values:
        return f" There are no {noun}."
    if len(values) <= MANY_CHOICES:
        return f" {noun[:1].upper()}{noun[1:]}: {', '.join(values)}."
    close = list(dict.fromkeys(_closest(str(given), labels)))
    if close:
        return f" Closest {noun}: {', '.join(close)} ({listing} lists all {len(values)})."
    return f" {listing} lists the {len(values)} {noun}."


def codeunit_hint(ref) -> str:
    from sessions_app.codeunits import registry

    labels: dict[str, str] = {}
    for cu in registry.all():
        label = f"{cu.id} {cu.name!r}"
        labels[cu.name.casefold()] = label
        labels[str(cu.id)] = label
    return choices_hint(ref, labels, noun="registered codeunits", listing="`manage.py codeunits`")


def company_hint(name) -> str:
    from sessions_app.companies import all_companies

    labels = {c.name.casefold(): repr(c.name) for c in all_companies()}
    return choices_hint(name, labels, noun="companies", listing="`manage.py companies`")


def id_hint(given, queryset, *, noun: str, none: str, listing: str) -> str:
    """The ids of ``queryset`` (e.g. the active sessions), or the few closest to ``given`` when there are many."""
    try:
        count = queryset.count()
        if not count:
            return f" {none}"
        if count <= MANY_CHOICES:
            ids = queryset.order_by("pk").values_list("pk", flat=True)
            return f" {noun[:1].upper()}{noun[1:]}: {', '.join(map(str, ids))}."
        text = str(given).strip()
        if not text.isdecimal():
            return f" {listing} lists the {count} {noun}."
        number = min(int(text), MAX_INT)  # a runaway number is compared with the largest id there can be
        below = list(queryset.filter(pk__lt=number).order_by("-pk").values_list("pk", flat=True)[:CLOSEST])
        above = list(queryset.filter(pk__gte=number).order_by("pk").values_list("pk", flat=True)[:CLOSEST])
        closest = sorted(sorted(below + above, key=lambda pk: (abs(pk - number), pk))[:CLOSEST])
        return f" Closest {noun}: {', '.join(map(str, closest))} ({listing} lists all {count})."
    except DatabaseError:
        return ""


def session_id_hint(given) -> str:
    from sessions_app.models import BackgroundSession

    return id_hint(
        given,
        BackgroundSession.objects.active(),
        noun="active sessions",
        none="No session is active.",
        listing="`manage.py sessions --active`",
    )


def start_refused(e, *, codeunit=None, company=None, failure_codeunit=None, multiline: bool = False) -> CommandError:
    """A ``SessionStartError`` as the command's error.

    A codeunit, company, parameter or user that is wrong is bad input (exit 2), with the valid or the
    closest codeunits or companies named; a start refused for now (a limit reached, the registry
    unavailable) could not happen (exit 1).
    """
    from sessions_app.codeunits import registry

    if e.errors and multiline:
        message = "Invalid parameters:" + "".join(f"\n  {field}: {' '.join(msgs)}" for field, msgs in e.errors.items())
    else:
        message = str(e)
    if e.reason == "unknown_codeunit":
        ref = codeunit if codeunit is not None and codeunit not in registry else failure_codeunit
        message += codeunit_hint(ref if ref is not None else "")
    elif e.reason == "unknown_company" and company is not None:
        message += company_hint(company)
    if e.reason in ("limit_reached", "unavailable"):
        return could_not(message)
    return bad_input(message)
