"""The scheduling layer's rows, in the registry beside the sessions they start.

Their tables keep the names they had when they lived in ``sessions_app``.
"""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

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
    timeout = models.DurationField(default=timedelta(hours=12))
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

    objects = RegistryManager()

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
    timeout = models.DurationField(default=timedelta(hours=12))
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

    objects = RegistryManager()

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
