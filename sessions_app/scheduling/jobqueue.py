"""The job queue: recurring and one-off work per company, with statuses, retries and a log.

Business Central's Job Queue. Each run of an entry is an ordinary background
session started by the dispatcher (``dispatcher.py``), with the idempotency
key ``job-<id>-<run>``. An entry moves ``ready`` -> ``in_process`` by a
conditional update, so it is never started twice; entries of one category
are claimed under a lock, so at most one of them is in process at a time and
the others wait (``waiting``).
"""

import logging
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import F, Q
from django.utils import timezone

from sessions_app import api, retry
from sessions_app.access import can_access, load_user
from sessions_app.exceptions import SessionStartError
from sessions_app.models import BackgroundSession, Status
from sessions_app.transactions import serialized, write_atomic

from . import clock
from .conf import app_settings
from .exceptions import JobQueueError
from .models import JobLogStatus, JobQueueEntry, JobStatus
from .recurrence import parse_weekdays
from .tasks import isolated

logger = logging.getLogger("sessions_app")

BATCH = 50
MANUAL_ONLY = (JobStatus.ON_HOLD, JobStatus.FINISHED, JobStatus.ERROR)  # statuses the dispatcher never starts
CATEGORY_LOCK_KEY = 0x5E55_11  # the advisory lock claims of categorised entries serialise on


def _check_user(user, company: str, perm: str) -> None:
    if user is None or not getattr(user, "is_authenticated", False):
        return
    if not user.has_perm(f"sessions_scheduling.{perm}"):
        raise JobQueueError(
            f"User {user.get_username()!r} may not do this to job queue entries ({perm}).", "permission_denied"
        )
    if not can_access(user, company):
        raise JobQueueError(f"User {user.get_username()!r} may not work in company {company!r}.", "permission_denied")


def add_job(
    codeunit,
    *,
    company=None,
    params=None,
    description: str = "",
    ready: bool = True,
    earliest_start: datetime | None = None,
    expires_at: datetime | None = None,
    weekdays=None,
    starting_time=None,
    ending_time=None,
    minutes_between_runs: int | None = None,
    cron: str = "",
    max_attempts: int = 3,
    rerun_delay: int = 60,
    category: str = "",
    timeout=None,
    user=None,
) -> JobQueueEntry:
    """Add a job queue entry in ``company`` and return it.

    ``weekdays`` (names such as ``"mon-fri"`` or numbers 0-6) with optional
    ``starting_time``/``ending_time`` and ``minutes_between_runs`` make it
    recurring, as does a ``cron`` expression; otherwise it runs once. With
    ``ready=True`` it runs from ``earliest_start`` on, as ``user``. Raise
    ``SessionStartError`` (``invalid_params`` with ``errors``...) with
    nothing written.
    """
    prepared = api.prepare_start(codeunit, company, params, timeout, user)
    if prepared.user is not None and not prepared.user.has_perm("sessions_scheduling.add_jobqueueentry"):
        raise SessionStartError("permission_denied", f"User {prepared.user.get_username()!r} may not add entries.")
    entry = JobQueueEntry(
        company=prepared.company.name,
        description=str(description)[:250],
        codeunit_id=prepared.codeunit.id,
        codeunit_name=prepared.codeunit.name,
        params=prepared.record.to_json(generated=False),
        timeout=prepared.timeout,
        status=JobStatus.READY if ready else JobStatus.ON_HOLD,
        earliest_start=clock.aware(earliest_start, "earliest_start"),
        expires_at=clock.aware(expires_at, "expires_at"),
        starting_time=starting_time,
        ending_time=ending_time,
        minutes_between_runs=minutes_between_runs,
        cron=cron or "",
        max_attempts=max_attempts,
        rerun_delay=rerun_delay,
        category=str(category or "").upper(),
        user=prepared.user,
        username=prepared.user.get_username() if prepared.user is not None else "",
    )
    try:
        entry.weekdays = parse_weekdays(weekdays)
    except ValueError as e:
        raise SessionStartError("invalid_params", str(e), {"weekdays": [str(e)]}) from e
    try:
        entry.full_clean()
        if nul := [name for name in ("description", "category", "cron") if "\x00" in getattr(entry, name)]:
            raise ValidationError({name: "A NUL character cannot be stored." for name in nul})
    except ValidationError as e:
        errors: dict[str, list[str]] = {}
        for field, messages in e.message_dict.items():  # named as add_job's arguments: weekdays, not run_on_mondays
            errors.setdefault("weekdays" if field in JobQueueEntry.WEEKDAY_FIELDS else field, []).extend(messages)
        detail = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
        raise SessionStartError("invalid_params", f"Invalid job queue entry: {detail}", errors) from e
    if ready:
        entry.earliest_start = first_run(entry, clock.now())
    if entry.expires_at and entry.earliest_start and entry.earliest_start >= entry.expires_at:
        message = f"Its first run, {entry.earliest_start:%Y-%m-%d %H:%M}, is not before its expiration."
        raise SessionStartError("invalid_params", message, {"expires_at": [message]})
    try:
        entry.save(using=app_settings.REGISTRY_ALIAS, force_insert=True)
    except Exception as e:
        raise SessionStartError("unavailable", f"The session registry is unavailable: {e}") from e
    logger.info("job=%s %s in %s added (%s)", entry.id, entry.codeunit_name, entry.company, entry.status)
    return entry


def first_run(entry: JobQueueEntry, now: datetime) -> datetime | None:
    """The earliest start of an entry set ready at ``now``: a recurring entry's first allowed moment."""
    if not entry.is_recurring:
        return entry.earliest_start
    base = max(entry.earliest_start, now) if entry.earliest_start else now
    return entry.recurrence.first_at_or_after(base)


def next_run(entry: JobQueueEntry, now: datetime) -> datetime:
    """The run after the one planned at ``entry.earliest_start``, skipping runs missed by ``now``."""
    planned = entry.earliest_start or now
    following = entry.recurrence.next_after(planned)
    return following if following > now else entry.recurrence.next_after(now)


def get_job(entry_id) -> JobQueueEntry:
    number = api.parse_session_id(entry_id)
    entry = None if number is None else JobQueueEntry.objects.filter(pk=number).first()
    if entry is None:
        raise JobQueueError(f"Job queue entry {entry_id!r} does not exist.")
    return entry


def set_job_ready(entry_id, user=None) -> JobQueueEntry:
    """Set an entry ready (attempts and error cleared); its sessions run as ``user`` from now on."""
    entry = get_job(entry_id)
    _check_user(user, entry.company, "change_jobqueueentry")
    changes = {
        "status": JobStatus.READY,
        "attempts": 0,
        "error_message": "",
        "error_traceback": "",
        "earliest_start": first_run(entry, clock.now()),
    }
    if user is not None and getattr(user, "is_authenticated", False):
        changes.update(user=user, username=user.get_username())
    if not JobQueueEntry.objects.change_unless_in_process(entry.pk, **changes):
        raise JobQueueError(f"Job queue entry {entry.pk} is in process; wait for it to finish.", "in_process")
    return get_job(entry.pk)


restart_job = set_job_ready


def set_job_on_hold(entry_id, user=None) -> JobQueueEntry:
    """Put an entry on hold: the dispatcher leaves it alone until it is set ready."""
    entry = get_job(entry_id)
    _check_user(user, entry.company, "change_jobqueueentry")
    if not JobQueueEntry.objects.change_unless_in_process(entry.pk, status=JobStatus.ON_HOLD):
        raise JobQueueError(f"Job queue entry {entry.pk} is in process; wait for it to finish.", "in_process")
    return get_job(entry.pk)


def run_job_now(entry_id, user=None, debug: bool = False) -> BackgroundSession:
    """Run an entry now, whatever its schedule: in the background, or inline with ``debug=True``.

    Its category is still respected. Return the session (finished, if inline).
    """
    entry = get_job(entry_id)
    _check_user(user, entry.company, "change_jobqueueentry")
    if not _claim(entry, force=True):
        raise JobQueueError(f"Job queue entry {entry.pk} is in process already.", "in_process")
    session = _start_run(entry, user=user, debug=debug)
    if session is None:
        entry.refresh_from_db(using=app_settings.REGISTRY_ALIAS)
        raise JobQueueError(f"Job queue entry {entry.pk}: {entry.error_message}", "not_started")
    return session


# The dispatcher's side.


def _claim(entry: JobQueueEntry, *, force: bool = False) -> bool:
    """Move ``entry`` to in process and open its log entry; False if it was not ours to start.

    Entries of one category are claimed one at a time (``serialized``), so
    at most one of them is in process; the others wait.
    """
    registry = app_settings.REGISTRY_ALIAS
    with serialized(registry, CATEGORY_LOCK_KEY) if entry.category else write_atomic(registry):
        if entry.category:
            busy = (
                JobQueueEntry.objects.filter(
                    company=entry.company, category=entry.category, status=JobStatus.IN_PROCESS
                )
                .exclude(pk=entry.pk)
                .values_list("pk", flat=True)
                .first()
            )
            if busy is not None:
                if force:
                    raise JobQueueError(
                        f"Category {entry.category} is busy: entry {busy} is in process.", "category_busy"
                    )
                JobQueueEntry.objects.wait(entry.pk)
                return False
        return JobQueueEntry.objects.start_run(entry, force=force)


def _start_run(entry: JobQueueEntry, *, user=None, debug: bool = False) -> BackgroundSession | None:
    """Start the session of the entry's current run (again after a crash: the key makes it the same one)."""
    try:
        session = api.start_session(
            entry.codeunit_id,
            company=entry.company,
            params=entry.params,
            timeout=entry.timeout,
            origin=f"job:{entry.id}:{entry.run_count}",
            user=user if user is not None else load_user(entry.user_id),
            debug=debug,
        )
    except SessionStartError as e:
        logger.error("job=%s run %s could not start: %s", entry.id, entry.run_count, e)
        _finish_run(entry, None, error=f"Could not start: {e}")
        return None
    JobQueueEntry.objects.attach_session(entry.pk, entry.run_count, session.id)
    entry.session_id = session.id
    logger.info("job=%s run %s is session %s", entry.id, entry.run_count, session.id)
    if not session.is_active:
        _finish_run(entry, session)
    return session


def _finish_run(entry: JobQueueEntry, session: BackgroundSession | None, error: str = "") -> None:
    """Record how a run ended and move the entry on: next run, a rerun after the delay, or error."""
    now = clock.now()
    success = session is not None and session.status == Status.SUCCEEDED
    tb = ""
    died_twice = False
    if session is not None and not success:
        error = session.error or f"The session ended {session.status}."
        tb = session.traceback
        if session.status == Status.LOST and (earlier := _lost_before(entry, session)) is not None:
            died_twice = True
            error = f"{error} {retry.died_twice(earlier, session.id)}"
    changes = {"last_finished_at": timezone.now(), "error_message": error[:10000], "error_traceback": tb}
    if entry.previous_status in MANUAL_ONLY:
        # Run by hand while on hold, finished or in error: it stays so, and is never retried on its own.
        outcome = JobLogStatus.SUCCESS if success else JobLogStatus.ERROR
        changes.update(status=entry.previous_status, last_outcome=outcome, attempts=max(0, entry.attempts - 1))
    elif success:
        changes.update(attempts=0, last_outcome=JobLogStatus.SUCCESS)
        if entry.is_recurring:
            # A run started by hand before its planned slot keeps that slot.
            keep = entry.earliest_start is not None and entry.earliest_start > now
            try:
                following = entry.earliest_start if keep else next_run(entry, now)
            except ValueError as e:  # a schedule with no next run left (a cron expression can say so)
                changes.update(status=JobStatus.ERROR, error_message=f"No next run: {e}")
            else:
                changes.update(status=JobStatus.READY, earliest_start=following)
        else:
            changes.update(status=JobStatus.FINISHED)
    else:
        changes.update(last_outcome=JobLogStatus.ERROR)
        if entry.attempts < entry.max_attempts and not died_twice:
            changes.update(status=JobStatus.READY, earliest_start=now + timedelta(seconds=entry.rerun_delay))
        else:
            changes.update(status=JobStatus.ERROR)
    log = {
        "status": JobLogStatus.SUCCESS if success else JobLogStatus.ERROR,
        "finished_at": session.finished_at if session is not None and session.finished_at else timezone.now(),
        "session_id": session.id if session is not None else None,
        "error_message": error[:10000],
        "error_traceback": tb,
    }
    if not JobQueueEntry.objects.finish_run(entry.pk, entry.run_count, changes, log):
        return
    level = logging.INFO if success else logging.ERROR
    logger.log(level, "job=%s run %s: %s -> %s", entry.id, entry.run_count, changes["last_outcome"], changes["status"])


def _lost_before(entry: JobQueueEntry, session: BackgroundSession) -> int | None:
    """An earlier lost run among the entry's current attempts (the first), or ``None``: a loss is retried once."""
    first = entry.run_count - entry.attempts + 1
    runs = [f"job:{entry.id}:{n}" for n in range(max(1, first), entry.run_count)]
    earlier = BackgroundSession.objects.filter(origin__in=runs, status=Status.LOST).exclude(pk=session.pk)
    return earlier.order_by("id").values_list("id", flat=True).first() if runs else None


def expire(now: datetime) -> list[int]:
    """Finish entries whose expiration has passed before they could start."""
    expired = []
    for entry in JobQueueEntry.objects.filter(status__in=(JobStatus.READY, JobStatus.WAITING), expires_at__lte=now):
        if JobQueueEntry.objects.expire(entry.pk):
            expired.append(entry.pk)
            logger.info("job=%s expired at %s without starting", entry.pk, entry.expires_at)
    return expired


def dispatch(now: datetime) -> list[int]:
    """Start every entry that is due and whose category is free; return their ids."""
    expire(now)
    due = (
        JobQueueEntry.objects.filter(status__in=(JobStatus.READY, JobStatus.WAITING))
        .filter(Q(earliest_start__isnull=True) | Q(earliest_start__lte=now))
        .order_by(F("earliest_start").asc(nulls_first=True), "id")[:BATCH]
    )
    started = []
    for entry in due:
        with isolated(f"job={entry.pk} start"):
            if _claim(entry):
                started.append(entry.pk)
                _start_run(entry)
    return started


def settle(now: datetime) -> None:
    """Learn how in-process runs ended; restart runs whose session a dead dispatcher never started."""
    running = list(JobQueueEntry.objects.filter(status=JobStatus.IN_PROCESS))
    sessions = BackgroundSession.objects.filter(pk__in=[e.session_id for e in running if e.session_id])
    by_id = {s.id: s for s in sessions}
    stale = timezone.now() - app_settings.DISPATCH_RECOVER_AFTER
    for entry in running:
        with isolated(f"job={entry.pk} settle"):
            if entry.session_id is None:
                if entry.claimed_at and entry.claimed_at < stale:
                    _start_run(entry)
                continue
            session = by_id.get(entry.session_id)
            if session is None:
                _finish_run(entry, None, error=f"Session {entry.session_id} disappeared.")
            elif not session.is_active:
                _finish_run(entry, session)


def next_due() -> datetime | None:
    """When the next ready entry is due, for the dispatcher's sleep."""
    entry = (
        JobQueueEntry.objects.filter(status=JobStatus.READY, earliest_start__isnull=False)
        .order_by("earliest_start")
        .only("earliest_start")
        .first()
    )
    return entry.earliest_start if entry else None
