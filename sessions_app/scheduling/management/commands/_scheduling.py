"""Shared pieces of the ``tasks`` and ``job_queue`` commands: sub-command errors, dates, parameters, tables."""

import argparse

from django.core.management.base import CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from sessions_app.companies import get_company
from sessions_app.exceptions import UnknownCompany
from sessions_app.management.commands._base import SessionsCommand, bad_input, company_hint
from sessions_app.scheduling import clock


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


def parse_when(text: str):
    """An ISO date-time; a naive one is in the current time zone."""
    try:
        value = parse_datetime(text.strip())
    except ValueError:
        value = None
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date and time (YYYY-MM-DD HH:MM[:SS][+HH:MM])")
    try:
        value = value if timezone.is_aware(value) else timezone.make_aware(value)
        problem = clock.out_of_range(value)
    except (OverflowError, ValueError) as e:
        problem = f"{text!r} cannot be read as a time: {e}"
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def first_line(text: str, width: int = 60) -> str:
    lines = (text or "").strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""
