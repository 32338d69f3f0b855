"""Shared pieces of the sessions commands: bad input exits 2, outcomes exit 1."""

import json

from django.core.management.base import BaseCommand, CommandError

from sessions_app.models import Status

EXIT_BAD_INPUT = 2
EXIT_SESSION_FAILED = 1
FAILED_STATUSES = {Status.FAILED, Status.TIMED_OUT, Status.STOPPED, Status.LOST, Status.CANCELLED}


def bad_input(message: str) -> CommandError:
    return CommandError(message, returncode=EXIT_BAD_INPUT)


def positive_int(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


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
