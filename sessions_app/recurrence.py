"""When a recurring job queue entry runs next: Business Central's weekdays, times and minutes, or cron.

Pure functions of a ``Recurrence`` and a moment, so the schedule can be
tested without a clock. Times are wall-clock times in ``tz`` (the project's
time zone by default).
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from croniter import CroniterError, croniter
from django.utils import timezone

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_MINUTES = 7 * 24 * 60


def parse_weekdays(values) -> frozenset[int]:
    """Weekdays from names (``mon``..``sun``, any case, or ``mon-fri``) or numbers 0 (Monday) to 6."""
    days: set[int] = set()
    for value in values or ():
        text = str(value).strip().lower()
        if "-" in text and not text.lstrip("-").isdigit():
            first, _, last = text.partition("-")
            start, end = _weekday(first), _weekday(last)
            days.update(range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)])
        else:
            days.add(_weekday(text))
    return frozenset(days)


FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _weekday(text: str) -> int:
    text = text.strip()
    for i, (short, full) in enumerate(zip(WEEKDAY_NAMES, FULL_NAMES, strict=True)):
        if text in (short, full, full + "s"):
            return i
    if text.isdigit() and int(text) < 7:
        return int(text)
    raise ValueError(f"{text!r} is not a weekday (mon..sun, monday..sunday or 0..6).")


def describe_weekdays(days) -> str:
    """``every day``, ``mon-fri``, ``mon,wed,sat-sun``: runs of three or more days as ranges."""
    if len(days) == 7:
        return "every day"
    parts, run = [], []
    for day in [*sorted(days), None]:
        if run and (day is None or day != run[-1] + 1):
            names = [WEEKDAY_NAMES[d] for d in run]
            parts.append(f"{names[0]}-{names[-1]}" if len(run) >= 3 else ",".join(names))
            run = []
        if day is not None:
            run.append(day)
    return ",".join(parts)


def cron_is_valid(expression: str) -> bool:
    """Five fields (minute hour day month weekday) that match at least one moment to come."""
    if not expression or len(expression.split()) != 5 or not croniter.is_valid(expression):
        return False
    try:
        croniter(expression, timezone.now()).get_next(datetime)
    except (CroniterError, ValueError):  # e.g. "0 0 31 2 *": 31 February never comes
        return False
    return True


@dataclass(frozen=True)
class Recurrence:
    """How an entry recurs: on ``weekdays`` between two times every N minutes (or once a day), or by ``cron``."""

    weekdays: frozenset[int] = frozenset()
    starting_time: time | None = None
    ending_time: time | None = None
    minutes_between_runs: int | None = None
    cron: str = ""

    @property
    def is_recurring(self) -> bool:
        return bool(self.cron) or bool(self.weekdays)

    def first_at_or_after(self, moment: datetime, tz: tzinfo | None = None) -> datetime:
        """The first moment at or after ``moment`` on which the entry may run."""
        if self.cron:
            return self._cron_next(moment - timedelta(seconds=1), tz)
        return self._fit(moment.astimezone(tz or timezone.get_default_timezone()))

    def next_after(self, previous: datetime, tz: tzinfo | None = None) -> datetime:
        """The run that follows one planned at ``previous``."""
        if self.cron:
            return self._cron_next(previous, tz)
        local = previous.astimezone(tz or timezone.get_default_timezone())
        if self.minutes_between_runs:
            candidate = local + timedelta(minutes=self.minutes_between_runs)
        else:  # once a day, at the starting time (or the same time of day)
            candidate = self._at(local.date() + timedelta(days=1), self.starting_time or local.time(), local.tzinfo)
        return self._fit(candidate)

    def _fit(self, candidate: datetime) -> datetime:
        """Move ``candidate`` forward to the first allowed weekday and time window."""
        start = self.starting_time or time(0)
        tz = candidate.tzinfo
        for _ in range(9):
            day = candidate.date()
            if day.weekday() in self.weekdays:
                if candidate.time() < start:
                    candidate = self._at(day, start, tz)
                if self.ending_time is None or candidate.time() <= self.ending_time:
                    return candidate
            candidate = self._at(day + timedelta(days=1), start, tz)
        raise ValueError("This recurrence allows no weekday.")

    @staticmethod
    def _at(day: date, at: time, tz) -> datetime:
        return datetime.combine(day, at.replace(tzinfo=None), tzinfo=tz)

    def _cron_next(self, after: datetime, tz) -> datetime:
        local = after.astimezone(tz or timezone.get_default_timezone())
        return croniter(self.cron, local).get_next(datetime)
