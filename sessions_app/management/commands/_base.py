"""Shared pieces of the sessions commands: bad input exits 2, outcomes exit 1."""

import json

from django.core.management.base import BaseCommand, CommandError

from sessions_app.models import Status

EXIT_BAD_INPUT = 2
EXIT_SESSION_FAILED = 1
FAILED_STATUSES = {Status.FAILED, Status.TIMED_OUT, Status.STOPPED, Status.LOST, Status.CANCELLED}


def bad_input(message: str) -> CommandError:
    return CommandError(message, returncode=EXIT_BAD_INPUT)


# Bounds of numeric arguments, so that absurd values are bad input (exit 2), never an OverflowError.
MAX_INT = 2**63 - 1  # ids and limits: SQLite's (and PostgreSQL's bigint) largest integer
MAX_DAYS = 36500  # --older-than: now minus a hundred years is still a date
MAX_SECONDS = 999_999_999 * 86400  # timedelta's largest whole number of days, in seconds


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
        return super().execute(*args, **options)


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


def positive_seconds(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a number of seconds") from None
    if not 0 < value <= MAX_SECONDS:  # NaN and infinity too
        raise argparse.ArgumentTypeError(f"{_shown(text)} must be a positive number of seconds, at most {MAX_SECONDS}")
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
