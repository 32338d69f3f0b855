"""Recurrence across daylight-saving changes (Europe/Berlin, 2026): no run is skipped, none is repeated.

Berlin puts its clocks forward on 29 March 2026 (02:00 CET -> 03:00 CEST: 02:30 does not exist) and back
on 25 October 2026 (03:00 CEST -> 02:00 CET: 02:00-02:59 happen twice). What "neither skips nor repeats"
means here:

- a daily time (cron ``30 2 * * *``) runs exactly once on every local day: on the spring day just after
  the gap (03:00 CEST), on the autumn day at the first 02:30 (CEST) only;
- "every 30 minutes from 01:00 to 05:00" counts real minutes: within a day's window successive runs are
  exactly 30 real minutes apart (only across the window's ends is the gap longer), the instants strictly
  increase and none comes twice. The window is wall-clock time, so a person finds 9 runs on an ordinary
  day, 7 on the spring day (01:00, 01:30 CET, then 03:00 to 05:00 CEST: the missing hour is not waited
  for) and 11 on the autumn day (02:00 and 02:30 come twice on the wall clock, once CEST, once CET).

The schedule is computed by the pure functions ``Recurrence.first_at_or_after`` and ``Recurrence.next_after``
(``sessions_app.scheduling.jobqueue.first_run`` / ``next_run`` call them, with the previous run read back from the
database in UTC).
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from sessions_app.scheduling.recurrence import Recurrence

BERLIN = ZoneInfo("Europe/Berlin")
SPRING, AUTUMN = date(2026, 3, 29), date(2026, 10, 25)
DAILY_0230 = Recurrence(cron="30 2 * * *")
EVERY_30_MIN = Recurrence(
    weekdays=frozenset(range(7)), starting_time=time(1), ending_time=time(5), minutes_between_runs=30
)


def local(day: date, at: time = time(0)) -> datetime:
    return datetime.combine(day, at, tzinfo=BERLIN)


def schedule(recurrence, first_day: date, days: int, tz=BERLIN, through_database=False) -> list[datetime]:
    """The successive runs from the start of ``first_day`` for ``days`` local days, as the job queue chains them."""
    since, until = local(first_day), local(first_day + timedelta(days=days))
    moment = recurrence.first_at_or_after(since, tz)
    runs = []
    while moment.astimezone(UTC) < until.astimezone(UTC):
        runs.append(moment)
        previous = moment.astimezone(UTC) if through_database else moment  # a DateTimeField reads back in UTC
        moment = recurrence.next_after(previous, tz)
    return runs


def on(day: date, runs) -> list[datetime]:
    return [run for run in runs if run.astimezone(BERLIN).date() == day]


def wall(runs) -> list[str]:
    return [f"{run.astimezone(BERLIN):%H:%M %Z}" for run in runs]


def gaps(runs) -> list[timedelta]:
    """Real time between successive runs (aware datetimes of one tzinfo subtract by wall clock: go through UTC)."""
    instants = [run.astimezone(UTC) for run in runs]
    return [b - a for a, b in zip(instants, instants[1:])]


def assert_strictly_increasing(runs):
    instants = [run.astimezone(UTC) for run in runs]
    assert instants == sorted(set(instants)), "an instant twice or out of order"


@pytest.fixture(params=["explicit zone", "TIME_ZONE setting"])
def tz(request):
    """The zone passed to the functions, or (None) the project's TIME_ZONE."""
    if request.param == "explicit zone":
        yield BERLIN
    else:
        with override_settings(TIME_ZONE="Europe/Berlin"):
            yield None


@pytest.mark.parametrize("through_database", [False, True])
def test_a_daily_0230_cron_runs_once_on_the_fall_back_day_at_the_first_0230(tz, through_database):
    runs = schedule(DAILY_0230, AUTUMN - timedelta(days=1), 3, tz, through_database)
    assert_strictly_increasing(runs)
    assert [len(on(AUTUMN + timedelta(days=d), runs)) for d in (-1, 0, 1)] == [1, 1, 1]
    (run,) = on(AUTUMN, runs)
    assert wall([run]) == ["02:30 CEST"] and run.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize("through_database", [False, True])
def test_a_daily_0230_cron_runs_once_on_the_spring_forward_day_just_after_the_gap(tz, through_database):
    runs = schedule(DAILY_0230, SPRING - timedelta(days=1), 3, tz, through_database)
    assert_strictly_increasing(runs)
    assert [len(on(SPRING + timedelta(days=d), runs)) for d in (-1, 0, 1)] == [1, 1, 1]
    (run,) = on(SPRING, runs)
    assert wall([run])[0] in ("03:00 CEST", "03:30 CEST")  # 02:30 does not exist that day
    assert wall(on(SPRING + timedelta(days=1), runs)) == ["02:30 CEST"]


def test_a_daily_cron_set_ready_in_the_repeated_hour_after_its_run_waits_for_the_next_day():
    second_0210 = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 CET, after 02:30 CEST has passed
    assert wall([second_0210]) == ["02:10 CET"]
    assert DAILY_0230.first_at_or_after(second_0210, BERLIN) == local(AUTUMN + timedelta(days=1), time(2, 30))
    assert DAILY_0230.next_after(local(AUTUMN, time(2, 30)), BERLIN) == local(AUTUMN + timedelta(days=1), time(2, 30))


@pytest.mark.parametrize("through_database", [False, True])
def test_every_30_minutes_from_1_to_5_neither_skips_nor_repeats_across_both_changes(tz, through_database):
    hours = ["01:00", "01:30", "02:00", "02:30", "03:00", "03:30", "04:00", "04:30", "05:00"]
    expected = {
        SPRING - timedelta(days=1): [f"{h} CET" for h in hours],
        SPRING: ["01:00 CET", "01:30 CET", *[f"{h} CEST" for h in hours[4:]]],
        SPRING + timedelta(days=1): [f"{h} CEST" for h in hours],
        AUTUMN - timedelta(days=1): [f"{h} CEST" for h in hours],
        AUTUMN: [*[f"{h} CEST" for h in hours[:4]], "02:00 CET", "02:30 CET", *[f"{h} CET" for h in hours[4:]]],
        AUTUMN + timedelta(days=1): [f"{h} CET" for h in hours],
    }
    for change in (SPRING, AUTUMN):
        runs = schedule(EVERY_30_MIN, change - timedelta(days=1), 3, tz, through_database)
        assert_strictly_increasing(runs)
        for day in (change - timedelta(days=1), change, change + timedelta(days=1)):
            day_runs = on(day, runs)
            assert wall(day_runs) == expected[day], day
            # Within a day's window: exactly 30 real minutes apart, whatever the wall clock says.
            assert set(gaps(day_runs)) == {timedelta(minutes=30)}, day
        # Across the window's ends, from 05:00 to the next day's 01:00: 20 real hours (the changes fall inside windows).
        assert set(gaps(runs)) - {timedelta(minutes=30)} == {timedelta(hours=20)}
    assert [len(expected[d]) for d in (SPRING, AUTUMN, AUTUMN + timedelta(days=1))] == [7, 11, 9]


def test_a_wildcard_cron_runs_every_30_real_minutes_through_both_changes():
    for change, count in ((SPRING, 46), (AUTUMN, 50)):  # a 23-hour and a 25-hour day
        runs = schedule(Recurrence(cron="*/30 * * * *"), change, 1)
        assert_strictly_increasing(runs)
        assert len(runs) == count
        assert set(gaps(runs)) == {timedelta(minutes=30)}


@pytest.mark.parametrize(
    "recurrence",
    [
        DAILY_0230,
        EVERY_30_MIN,
        Recurrence(cron="*/20 2 * * *"),
        Recurrence(weekdays=frozenset(range(7)), starting_time=time(2, 30)),
        Recurrence(
            weekdays=frozenset(range(7)), starting_time=time(2, 15), ending_time=time(4), minutes_between_runs=7
        ),
    ],
    ids=["cron 30 2", "every 30 min 1-5", "cron */20 2", "daily 02:30", "every 7 min 02:15-04"],
)
def test_the_next_run_is_never_before_the_moment_asked_about(recurrence):
    for change in (SPRING, AUTUMN):
        start = local(change).astimezone(UTC) - timedelta(hours=1)
        for minutes in range(0, 8 * 60, 5):
            moment = start + timedelta(minutes=minutes)  # in UTC: real minutes, real comparisons
            for asked in (moment.astimezone(UTC), moment.astimezone(BERLIN)):
                assert recurrence.next_after(asked, BERLIN) > moment
                assert recurrence.first_at_or_after(asked, BERLIN) >= moment
