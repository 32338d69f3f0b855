"""The scheduling layer's rows, in the registry beside the sessions they start.

Their tables keep the names they had when they lived in ``sessions_app``.
"""

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from sessions_app.conf import DEFAULT_TIMEOUT
from sessions_app.models import RegistryManager, registry_user_field

from . import clock
from .recurrence import MAX_MINUTES, WEEKDAY_NAMES, Recurrence, cron_is_valid, describe_weekdays


class TaskStatus(models.TextChoices):
    NOT_READY = "not_ready", "Not ready"
    """Created with ``ready=False``: it waits for ``set_task_ready``."""
    READY = "ready", "Ready"
    """It runs at the first chance on or after ``not_before``."""
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    """Its last attempt failed; its failure codeunit (if any) was started."""
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_TASK_STATUSES = (TaskStatus.NOT_READY, TaskStatus.READY, TaskStatus.RUNNING)
WAITING_TASK_STATUSES = (TaskStatus.NOT_READY, TaskStatus.READY)


class ScheduledTaskQuerySet(models.QuerySet):
    """A task's state changes: each a conditional update on its status (and attempt), so two deciders never both win.

    Each returns whether it changed the task.
    """

    def _running(self, task_id: int, attempt: int):
        return self.filter(pk=task_id, status=TaskStatus.RUNNING, attempts=attempt)

    def set_ready(self, task_id: int, not_before=None) -> bool:
        """A task that has not started becomes ready (to run at or after ``not_before``, if given)."""
        changes = {"status": TaskStatus.READY} | ({"not_before": not_before} if not_before is not None else {})
        return bool(self.filter(pk=task_id, status__in=WAITING_TASK_STATUSES).update(**changes))

    def cancel_waiting(self, task_id: int) -> bool:
        return bool(
            self.filter(pk=task_id, status__in=WAITING_TASK_STATUSES).update(
                status=TaskStatus.CANCELLED, finished_at=timezone.now()
            )
        )

    def cancel_running(self, task_id: int, attempt: int) -> bool:
        return bool(self._running(task_id, attempt).update(status=TaskStatus.CANCELLED, finished_at=timezone.now()))

    def claim(self, task_id: int, attempts: int) -> bool:
        """A ready task with ``attempts`` so far starts its next attempt (its session is started next)."""
        return bool(
            self.filter(pk=task_id, status=TaskStatus.READY, attempts=attempts).update(
                status=TaskStatus.RUNNING, attempts=attempts + 1, claimed_at=timezone.now(), session_id=None
            )
        )

    def attach_session(self, task_id: int, attempt: int, session_id: int) -> bool:
        return bool(self._running(task_id, attempt).update(session_id=session_id))

    def succeed(self, task_id: int, attempt: int) -> bool:
        return bool(self._running(task_id, attempt).update(status=TaskStatus.SUCCEEDED, finished_at=timezone.now()))

    def retry_at(self, task_id: int, attempt: int, when, **error) -> bool:
        """The attempt failed and is tried again at ``when``; ``error`` keeps what it failed with."""
        return bool(self._running(task_id, attempt).update(status=TaskStatus.READY, not_before=when, **error))

    def fail(self, task_id: int, attempt: int, **error) -> bool:
        return bool(
            self._running(task_id, attempt).update(status=TaskStatus.FAILED, finished_at=timezone.now(), **error)
        )

    def note_failure_session(self, task_id: int, session_id: int | None = None, error: str = "") -> None:
        """The session its failure codeunit runs in, or why that could not start."""
        changes = {"failure_session_id": session_id} if session_id is not None else {"failure_error": error[:10000]}
        self.filter(pk=task_id).update(**changes)


class ScheduledTask(models.Model):
    """A codeunit to run once, later, in a background session: Business Central's Scheduled Task."""

    registry_model = True

    id = models.BigAutoField(primary_key=True)
    codeunit_id = models.PositiveIntegerField()
    codeunit_name = models.CharField(max_length=30)
    failure_codeunit_id = models.PositiveIntegerField(null=True, blank=True)
    failure_codeunit_name = models.CharField(max_length=30, blank=True)
    company = models.CharField(max_length=100, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    user = registry_user_field()
    username = models.CharField(max_length=150, blank=True)
    timeout = models.DurationField(default=DEFAULT_TIMEOUT)
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.READY)
    not_before = models.DateTimeField(
        help_text="it does not start before this (scheduler clock)", validators=[clock.schedulable]
    )
    attempts = models.PositiveIntegerField(default=0, help_text="sessions started for it so far")
    claimed_at = models.DateTimeField(null=True, blank=True)
    session_id = models.BigIntegerField(null=True, blank=True, help_text="the session of its latest attempt")
    failure_session_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    error_message = models.TextField(blank=True)
    error_type = models.CharField(max_length=200, blank=True)
    error_traceback = models.TextField(blank=True)
    failure_error = models.TextField(blank=True, help_text="why its failure codeunit could not start")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = RegistryManager.from_queryset(ScheduledTaskQuerySet)()

    class Meta:
        db_table = "sessions_app_scheduledtask"
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "not_before"], name="task_status_not_before")]

    def __str__(self) -> str:
        return f"Task {self.id} {self.codeunit_name} in {self.company} ({self.get_status_display()})"

    def as_dict(self) -> dict:
        def iso(value):
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "codeunit_id": self.codeunit_id,
            "codeunit_name": self.codeunit_name,
            "failure_codeunit_id": self.failure_codeunit_id,
            "failure_codeunit_name": self.failure_codeunit_name,
            "timeout": self.timeout.total_seconds(),
            "company": self.company,
            "params": self.params,
            "user": self.username or None,
            "status": self.status,
            "not_before": iso(self.not_before),
            "attempts": self.attempts,
            "session_id": self.session_id,
            "failure_session_id": self.failure_session_id,
            "error_message": self.error_message,
            "error_type": self.error_type,
            "created_at": iso(self.created_at),
            "finished_at": iso(self.finished_at),
        }


class JobStatus(models.TextChoices):
    READY = "ready", "Ready"
    IN_PROCESS = "in_process", "In process"
    ERROR = "error", "Error"
    ON_HOLD = "on_hold", "On hold"
    FINISHED = "finished", "Finished"
    WAITING = "waiting", "Waiting"
    """Due, but another entry of its category is in process."""


class JobQueueEntryQuerySet(models.QuerySet):
    """An entry's state changes: conditional updates, and with its log entry in one commit where a run is recorded."""

    def _in_process(self, entry_id: int, run_count: int):
        return self.filter(pk=entry_id, status=JobStatus.IN_PROCESS, run_count=run_count)

    def change_unless_in_process(self, entry_id: int, **changes) -> bool:
        """Set ready or on hold (``changes``): never an entry whose run is in process."""
        return bool(self.filter(pk=entry_id).exclude(status=JobStatus.IN_PROCESS).update(**changes))

    def edit(self, entry_id: int, **fields) -> bool:
        """Change an entry's settings (``fields``): never while it runs, and a ready one goes on hold until set
        ready again, so its next run is planned from the new settings."""
        waiting = (JobStatus.READY, JobStatus.WAITING)
        held = Case(When(status__in=waiting, then=Value(JobStatus.ON_HOLD)), default=F("status"))
        return self.change_unless_in_process(entry_id, status=held, **fields)

    def wait(self, entry_id: int) -> bool:
        """A ready entry whose category is busy waits for it."""
        return bool(self.filter(pk=entry_id, status=JobStatus.READY).update(status=JobStatus.WAITING))

    def start_run(self, entry: "JobQueueEntry", *, force: bool = False) -> bool:
        """Move ``entry`` (as read, at its ``run_count``) to in process and open its run's log entry.

        A due entry is ready or waiting; ``force`` (run now) starts one in any
        status but in process. Call inside a transaction on the registry.
        """
        statuses = ~Q(status=JobStatus.IN_PROCESS) if force else Q(status__in=(JobStatus.READY, JobStatus.WAITING))
        now = timezone.now()
        if not self.filter(statuses, pk=entry.pk, run_count=entry.run_count).update(
            status=JobStatus.IN_PROCESS,
            previous_status=F("status"),
            run_count=F("run_count") + 1,
            attempts=F("attempts") + 1,
            claimed_at=now,
            session_id=None,
        ):
            return False
        entry.refresh_from_db(using=self.db)
        JobQueueLogEntry.objects.create(
            entry=entry,
            company=entry.company,
            codeunit_id=entry.codeunit_id,
            codeunit_name=entry.codeunit_name,
            description=entry.description,
            username=entry.username,
            started_at=now,
        )
        return True

    def attach_session(self, entry_id: int, run_count: int, session_id: int) -> bool:
        """The run's session was started: the entry and its log entry name it, in one commit."""
        with transaction.atomic(using=self.db):
            if not self._in_process(entry_id, run_count).update(session_id=session_id):
                return False
            JobQueueLogEntry.objects.filter(entry_id=entry_id, status=JobLogStatus.IN_PROCESS).update(
                session_id=session_id
            )
        return True

    def finish_run(self, entry_id: int, run_count: int, changes: dict, log: dict) -> bool:
        """The run ended: the entry moves on (``changes``) and its log entry is closed (``log``), in one commit."""
        with transaction.atomic(using=self.db):
            if not self._in_process(entry_id, run_count).update(**changes):
                return False
            JobQueueLogEntry.objects.filter(entry_id=entry_id, status=JobLogStatus.IN_PROCESS).update(**log)
        return True

    def expire(self, entry_id: int) -> bool:
        """An entry whose expiration passed before it could start is finished."""
        waiting = (JobStatus.READY, JobStatus.WAITING)
        return bool(
            self.filter(pk=entry_id, status__in=waiting).update(status=JobStatus.FINISHED, last_outcome="expired")
        )


class JobQueueEntry(models.Model):
    """Recurring or one-off work administrators manage: Business Central's Job Queue Entry.

    Entries belong to a company; they are kept in the registry beside the
    sessions that run them, so one dispatcher sees every company's entries.
    ``earliest_start`` is the next run (on the scheduler clock).
    """

    registry_model = True

    id = models.BigAutoField(primary_key=True)
    company = models.CharField(max_length=100, db_index=True)
    description = models.CharField(max_length=250, blank=True)
    codeunit_id = models.PositiveIntegerField()
    codeunit_name = models.CharField(max_length=30)
    params = models.JSONField(default=dict, blank=True)
    timeout = models.DurationField(default=DEFAULT_TIMEOUT)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.ON_HOLD)
    earliest_start = models.DateTimeField(
        null=True, blank=True, help_text="its next run; empty: as soon as ready", validators=[clock.schedulable]
    )
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="it never starts after this", validators=[clock.schedulable]
    )
    run_on_mondays = models.BooleanField(default=False)
    run_on_tuesdays = models.BooleanField(default=False)
    run_on_wednesdays = models.BooleanField(default=False)
    run_on_thursdays = models.BooleanField(default=False)
    run_on_fridays = models.BooleanField(default=False)
    run_on_saturdays = models.BooleanField(default=False)
    run_on_sundays = models.BooleanField(default=False)
    starting_time = models.TimeField(null=True, blank=True)
    ending_time = models.TimeField(null=True, blank=True)
    minutes_between_runs = models.PositiveIntegerField(
        null=True, blank=True, help_text="empty: once a day, at the starting time"
    )
    cron = models.CharField(max_length=100, blank=True, help_text="a cron expression, instead of weekdays and times")
    max_attempts = models.PositiveSmallIntegerField(default=3, help_text="runs tried before it ends in error")
    rerun_delay = models.PositiveIntegerField(default=60, help_text="seconds before a failed run is tried again")
    attempts = models.PositiveIntegerField(default=0, help_text="failed runs in a row, this one included")
    category = models.CharField(
        max_length=20, blank=True, db_index=True, help_text="entries of one category run one at a time"
    )
    user = registry_user_field()
    username = models.CharField(max_length=150, blank=True, help_text="who set it ready; its sessions run as them")
    run_count = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    previous_status = models.CharField(max_length=10, choices=JobStatus.choices, blank=True)
    session_id = models.BigIntegerField(null=True, blank=True, help_text="the session of its latest run")
    last_outcome = models.CharField(max_length=10, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    error_traceback = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    WEEKDAY_FIELDS = (
        "run_on_mondays",
        "run_on_tuesdays",
        "run_on_wednesdays",
        "run_on_thursdays",
        "run_on_fridays",
        "run_on_saturdays",
        "run_on_sundays",
    )

    objects = RegistryManager.from_queryset(JobQueueEntryQuerySet)()

    class Meta:
        db_table = "sessions_app_jobqueueentry"
        verbose_name = "job queue entry"
        verbose_name_plural = "job queue entries"
        ordering = ["company", "id"]
        indexes = [models.Index(fields=["status", "earliest_start"], name="job_status_earliest")]

    def __str__(self) -> str:
        what = self.description or self.codeunit_name
        return f"Job {self.id} {what} in {self.company} ({self.get_status_display()})"

    @property
    def weekdays(self) -> frozenset[int]:
        return frozenset(i for i, name in enumerate(self.WEEKDAY_FIELDS) if getattr(self, name))

    @weekdays.setter
    def weekdays(self, days) -> None:
        for i, name in enumerate(self.WEEKDAY_FIELDS):
            setattr(self, name, i in days)

    @property
    def recurrence(self) -> Recurrence:
        return Recurrence(
            weekdays=self.weekdays,
            starting_time=self.starting_time,
            ending_time=self.ending_time,
            minutes_between_runs=self.minutes_between_runs,
            cron=self.cron,
        )

    @property
    def is_recurring(self) -> bool:
        return self.recurrence.is_recurring

    def describe_recurrence(self) -> str:
        if self.cron:
            return f"cron {self.cron}"
        if not self.weekdays:
            return "once"
        days = describe_weekdays(self.weekdays)
        if not self.minutes_between_runs:  # once a day
            at = f" at {self.starting_time:%H:%M}" if self.starting_time else ""
            return f"{'daily' if len(self.weekdays) == 7 else days}{at}"
        window = ""
        if self.starting_time and self.ending_time:
            window = f" {self.starting_time:%H:%M}-{self.ending_time:%H:%M}"
        elif self.starting_time:
            window = f" from {self.starting_time:%H:%M}"
        elif self.ending_time:
            window = f" until {self.ending_time:%H:%M}"
        every = f"every {self.minutes_between_runs} min"
        return every + window if len(self.weekdays) == 7 else f"{days}{window} {every}"

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.cron and not cron_is_valid(self.cron):
            errors.setdefault("cron", []).append(
                f"{self.cron!r} is not a cron expression that will match: five fields, minute hour day month weekday."
            )
        if self.cron and (self.weekdays or self.minutes_between_runs):
            errors.setdefault("cron", []).append("Give either a cron expression or weekdays and times, not both.")
        if (self.minutes_between_runs or self.starting_time or self.ending_time) and not (self.weekdays or self.cron):
            errors.setdefault("run_on_mondays", []).append("A recurring entry needs at least one weekday.")
        if self.minutes_between_runs is not None and not 1 <= self.minutes_between_runs <= MAX_MINUTES:
            errors.setdefault("minutes_between_runs", []).append(f"Between 1 and {MAX_MINUTES} minutes.")
        if self.starting_time and self.ending_time and self.ending_time <= self.starting_time:
            errors.setdefault("ending_time", []).append("The ending time must be after the starting time.")
        if self.max_attempts < 1:
            errors.setdefault("max_attempts", []).append("At least 1.")
        if self.earliest_start and self.expires_at and self.expires_at <= self.earliest_start:
            errors.setdefault("expires_at", []).append("The expiration must be after the earliest start.")
        if errors:
            raise ValidationError(errors)

    def as_dict(self) -> dict:
        def iso(value):
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "company": self.company,
            "description": self.description,
            "codeunit_id": self.codeunit_id,
            "codeunit_name": self.codeunit_name,
            "params": self.params,
            "status": self.status,
            "earliest_start": iso(self.earliest_start),
            "expires_at": iso(self.expires_at),
            "recurrence": self.describe_recurrence(),
            "weekdays": [WEEKDAY_NAMES[d] for d in sorted(self.weekdays)],
            "starting_time": self.starting_time.isoformat() if self.starting_time else None,
            "ending_time": self.ending_time.isoformat() if self.ending_time else None,
            "minutes_between_runs": self.minutes_between_runs,
            "cron": self.cron,
            "timeout": self.timeout.total_seconds(),
            "run_count": self.run_count,
            "max_attempts": self.max_attempts,
            "rerun_delay": self.rerun_delay,
            "attempts": self.attempts,
            "category": self.category,
            "user": self.username or None,
            "session_id": self.session_id,
            "last_outcome": self.last_outcome or None,
            "last_finished_at": iso(self.last_finished_at),
            "error_message": self.error_message,
        }


class JobLogStatus(models.TextChoices):
    IN_PROCESS = "in_process", "In process"
    SUCCESS = "success", "Success"
    ERROR = "error", "Error"


class JobQueueLogEntry(models.Model):
    """One run of a job queue entry: when, how it ended, and the session that ran it."""

    registry_model = True

    id = models.BigAutoField(primary_key=True)
    entry = models.ForeignKey(JobQueueEntry, null=True, on_delete=models.SET_NULL, related_name="log_entries")
    company = models.CharField(max_length=100, db_index=True)
    codeunit_id = models.PositiveIntegerField()
    codeunit_name = models.CharField(max_length=30)
    description = models.CharField(max_length=250, blank=True)
    session_id = models.BigIntegerField(null=True, blank=True)
    username = models.CharField(max_length=150, blank=True)
    status = models.CharField(max_length=10, choices=JobLogStatus.choices, default=JobLogStatus.IN_PROCESS)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    error_traceback = models.TextField(blank=True)

    objects = RegistryManager()

    class Meta:
        db_table = "sessions_app_jobqueuelogentry"
        verbose_name = "job queue log entry"
        verbose_name_plural = "job queue log entries"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Job {self.entry_id} run {self.id} ({self.get_status_display()})"
