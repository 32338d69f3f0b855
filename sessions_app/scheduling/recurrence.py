"""When a recurring job queue entry runs next: Business Central's weekdays, times and minutes, or cron.

Pure functions of a ``Recurrence`` and a moment, so the schedule can be
tested without a clock. Times are wall-clock times in ``tz`` (the project's
time zone by default).

Across daylight-saving changes a daily or cron time runs once a day: one the day lacks (spring
forward) just after the gap (cron: 02:30 -> 03:00; a starting time: 02:30 -> 03:30, the instant a
clock that was not put forward reads 02:30), one the day has twice (fall back) at its first occurrence
only. "Every N minutes" means N real minutes: inside a window the repeated hour is run through twice
(wall-clock times repeat, no run is skipped) and the missing hour is not waited for. Results are real
local times, and ``next_after`` is always after ``previous``.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

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
            # In UTC: a second before 02:00 CET (fold=1) by wall clock is 01:59:59 CEST, an hour earlier.
            return self._cron_next(moment.astimezone(UTC) - timedelta(seconds=1), tz)
        return self._fit(moment.astimezone(tz or timezone.get_default_timezone()))

    def next_after(self, previous: datetime, tz: tzinfo | None = None) -> datetime:
        """The run that follows one planned at ``previous``."""
        if self.cron:
            return self._cron_next(previous, tz)
        local = previous.astimezone(tz or timezone.get_default_timezone())
        if self.minutes_between_runs:
            # In real time: wall-clock arithmetic (aware + timedelta) would skip the repeated hour in
            # autumn and step onto times that do not exist (then back in time) in spring.
            candidate = (previous.astimezone(UTC) + timedelta(minutes=self.minutes_between_runs)).astimezone(
                local.tzinfo
            )
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
                    # In the repeated hour a wall-clock time before the start can come after it: never go back.
                    # (Compared in UTC: aware datetimes of one tzinfo compare by wall clock.)
                    candidate = max(candidate, self._at(day, start, tz), key=lambda moment: moment.astimezone(UTC))
                if self.ending_time is None or candidate.time() <= self.ending_time:
                    return candidate
            candidate = self._at(day + timedelta(days=1), start, tz)
        raise ValueError("This recurrence allows no weekday.")

    @staticmethod
    def _at(day: date, at: time, tz) -> datetime:
        # Through UTC and back: a wall-clock time the day lacks (spring forward) becomes the real time
        # after the gap (02:30 -> 03:30), and a repeated one (fall back) its first occurrence.
        return datetime.combine(day, at.replace(tzinfo=None), tzinfo=tz).astimezone(UTC).astimezone(tz)

    @property
    def _cron_is_fixed_time(self) -> bool:
        """Minute and hour fields are not wildcards (as Vixie cron decides): ``30 2 * * *``, not ``*/30 * * * *``."""
        minute, hour = self.cron.split()[:2]
        return not minute.startswith("*") and not hour.startswith("*")

    def _cron_next(self, after: datetime, tz) -> datetime:
        local = after.astimezone(tz or timezone.get_default_timezone())
        times = croniter(self.cron, local)
        for _ in range(24 * 60):  # a repeated hour (or a few) holds at most this many matches
            candidate = times.get_next(datetime).astimezone(UTC).astimezone(local.tzinfo)
            # croniter matches a wall-clock time the fall-back day has twice (02:30 CEST, then 02:30 CET):
            # a fixed-time entry runs at the first one only, as cron does; wildcard entries run in real time.
            second = candidate.fold and candidate.utcoffset() != candidate.replace(fold=0).utcoffset()
            if not (second and self._cron_is_fixed_time):
                return candidate
        raise ValueError(f"{self.cron!r} finds no next run.")
