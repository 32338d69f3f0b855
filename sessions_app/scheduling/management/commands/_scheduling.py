"""Shared pieces of the ``tasks`` and ``job_queue`` commands: dates and tables (sub-commands: ``_base``)."""

import argparse

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from sessions_app.management.commands._base import ListingCommand, SubcommandParser  # noqa: F401  (their home was here)
from sessions_app.scheduling import clock


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
