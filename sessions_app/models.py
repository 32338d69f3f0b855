"""The session registry (on the registry alias) and the company-scoped model base."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from .recurrence import MAX_MINUTES, WEEKDAY_NAMES, Recurrence, cron_is_valid, describe_weekdays


class CompanyModel(models.Model):
    """Base class of company-scoped models: their rows live in the current company's database."""

    company_scoped = True

    class Meta:
        abstract = True


class Status(models.TextChoices):
    PENDING = "pending", "Pending"
    """Written, waiting for the caller's transaction to commit (``on_commit=True``)."""
    QUEUED = "queued", "Queued"
    """Handed to the queue; no worker has claimed it yet."""
    RUNNING = "running", "Running"
    """Claimed by a worker (or running inline)."""
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    """The codeunit raised; its writes were rolled back; ``traceback`` says why."""
    TIMED_OUT = "timed_out", "Timed out"
    STOPPED = "stopped", "Stopped"
    LOST = "lost", "Lost"
    """It started but its worker vanished without a finish record."""
    CANCELLED = "cancelled", "Cancelled"
    """It never ran: stopped while queued, or its caller rolled back."""


ACTIVE_STATUSES = (Status.PENDING, Status.QUEUED, Status.RUNNING)
FINISHED_STATUSES = tuple(s for s in Status if s not in ACTIVE_STATUSES)


class Mode(models.TextChoices):
    BACKGROUND = "background", "Background"
    INLINE = "inline", "Inline (debug)"


class BackgroundSessionQuerySet(models.QuerySet):
    """Queries by state, and the state changes: each a conditional update and its event, in one commit."""

    def active(self):
        return self.filter(status__in=ACTIVE_STATUSES)

    def finished(self):
        return self.filter(status__in=FINISHED_STATUSES)

    def for_company(self, name: str):
        return self.filter(company=name)

    def _event(self, session_id: int, kind: str, message: str = "") -> None:
        SessionEvent.objects.using(self.db).create(session_id=session_id, kind=kind, message=message)

    def claim(self, session_id: int, worker: str) -> "BackgroundSession | None":
        """Mark a queued session running on ``worker``; return it, or ``None`` if it was not queued."""
        now = timezone.now()
        with transaction.atomic(using=self.db):
            if not self.filter(pk=session_id, status=Status.QUEUED).update(
                status=Status.RUNNING, started_at=now, heartbeat_at=now, worker=worker
            ):
                return None
            self._event(session_id, SessionEvent.Kind.STARTED, f"on {worker}")
            return self.get(pk=session_id)

    def finish(self, session_id: int, status: str, *, message: str = "", **fields) -> bool:
        """Move a running session to the finished ``status`` with ``fields``; False if it was not running."""
        fields.setdefault("finished_at", timezone.now())
        with transaction.atomic(using=self.db):
            if not self.filter(pk=session_id, status=Status.RUNNING).update(status=status, **fields):
                return False
            self._event(session_id, FINISH_EVENTS[status], message)
        return True

    def cancel_pending(self, session_id: int, message: str) -> bool:
        """Cancel a session still waiting for its caller's commit; False if it was not pending."""
        with transaction.atomic(using=self.db):
            if not self.filter(pk=session_id, status=Status.PENDING).update(
                status=Status.CANCELLED, finished_at=timezone.now()
            ):
                return False
            self._event(session_id, SessionEvent.Kind.CANCELLED, message)
        return True


class BackgroundSession(models.Model):
    """One session: Business Central's Session Event table, start to finish."""

    registry_model = True

    id = models.BigAutoField(primary_key=True)
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    codeunit_id = models.PositiveIntegerField(db_index=True)
    codeunit_name = models.CharField(max_length=30)
    company = models.CharField(max_length=100, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    # The user lives in the control database, maybe another file or server:
    # no database constraint, and the name is kept for display.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    username = models.CharField(max_length=150, blank=True)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.BACKGROUND)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    worker = models.CharField(max_length=100, blank=True, help_text="host:pid that ran it")
    timeout = models.DurationField(default=timedelta(hours=12))
    key = models.CharField(max_length=200, null=True, blank=True, unique=True, help_text="the caller's idempotency key")
    origin = models.CharField(
        max_length=100,
        null=True,
        blank=True,
        unique=True,
        help_text="what started it (task:5:2, job:7:3, rerun:12): a namespace callers' keys never reach",
    )
    task_id = models.CharField(max_length=32, blank=True, help_text="django-q2 task id")
    fetched_by = models.CharField(max_length=100, blank=True, help_text="the cluster (host:pid) that took its task")
    fetched_at = models.DateTimeField(null=True, blank=True)
    progress_done = models.BigIntegerField(null=True, blank=True)
    progress_total = models.BigIntegerField(null=True, blank=True)
    progress_message = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    stopped_by = models.CharField(max_length=150, blank=True)
    stop_comment = models.CharField(max_length=500, blank=True)
    rerun_of = models.BigIntegerField(null=True, blank=True, help_text="the lost session this one re-runs")
    awaits = models.JSONField(
        default=list, blank=True, help_text="the aliases whose commit a pending session waits for (on_commit=True)"
    )
    error_type = models.CharField(max_length=200, blank=True, help_text="the class of the exception it failed with")
    retriable = models.BooleanField(default=False, help_text="it failed with an error that may pass if tried again")

    objects = BackgroundSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "-id"], name="session_status_id"),
            models.Index(fields=["status", "company"], name="session_status_company"),
            models.Index(fields=["finished_at"], name="session_finished_at"),
        ]
        permissions = [
            ("start_session", "Can start background sessions"),
            ("stop_session", "Can stop background sessions"),
            ("rerun_session", "Can re-run background sessions"),
        ]

    def __str__(self) -> str:
        return f"Session {self.id} {self.codeunit_name} in {self.company} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def as_dict(self) -> dict:
        """Return the session as JSON-able values, for commands and the status endpoint."""
        elapsed = self.elapsed
        return {
            "id": self.id,
            "uuid": str(self.uuid),
            "codeunit_id": self.codeunit_id,
            "codeunit_name": self.codeunit_name,
            "company": self.company,
            "params": self.params,
            "user": self.username or None,
            "mode": self.mode,
            "status": self.status,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "elapsed": elapsed.total_seconds() if elapsed is not None else None,
            "progress": {"done": self.progress_done, "total": self.progress_total, "message": self.progress_message},
            "result": self.result,
            "error": self.error,
            "traceback": self.traceback,
            "worker": self.worker,
            "timeout": self.timeout.total_seconds(),
            "key": self.key,
            "heartbeat_at": self.heartbeat_at.isoformat() if self.heartbeat_at else None,
            "stopped_by": self.stopped_by,
            "stop_comment": self.stop_comment,
            "rerun_of": self.rerun_of,
            "error_type": self.error_type,
            "retriable": self.retriable,
        }

    @property
    def progress_percent(self) -> int | None:
        if self.status == Status.SUCCEEDED:
            return 100
        if not self.progress_total or self.progress_done is None:
            return None
        return max(0, min(100, int(100 * self.progress_done / self.progress_total)))

    @property
    def elapsed(self) -> timedelta | None:
        """Time from start to finish, or to now while running; ``None`` before it starts."""
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at


class SessionEvent(models.Model):
    """A transition or message in a session's life, with its time."""

    registry_model = True

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        QUEUED = "queued", "Queued"
        STARTED = "started", "Started"
        LOG = "log", "Log"
        PROGRESS = "progress", "Progress"
        STOP_REQUESTED = "stop_requested", "Stop requested"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        STOPPED = "stopped", "Stopped"
        TIMED_OUT = "timed_out", "Timed out"
        LOST = "lost", "Lost"
        CANCELLED = "cancelled", "Cancelled"
        REFUSED = "refused", "Refused"
        RERUN = "rerun", "Re-run"

    session = models.ForeignKey(BackgroundSession, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.kind} {self.message}"


class SessionFence(models.Model):
    """A session's outcome, anchored in the database its work is written to.

    ``stage="run"``: the runner inserts ``committed`` (with the result) in the
    codeunit's own transaction, so the row exists exactly when the work is
    committed. Whoever declares the session lost or stopped first inserts
    ``void``; the unique key then fails a late commit. ``stage="start"`` does
    the same for ``on_commit=True``: inserted in the caller's transaction, it
    says whether the caller committed. Lives in ``default`` and in every
    company database; always used with an explicit alias.
    """

    fence_model = True

    class Stage(models.TextChoices):
        START = "start", "Caller committed"
        RUN = "run", "Codeunit committed"

    class Outcome(models.TextChoices):
        COMMITTED = "committed", "Committed"
        VOID = "void", "Void: can never commit"

    id = models.BigAutoField(primary_key=True)
    session_uuid = models.UUIDField()
    stage = models.CharField(max_length=5, choices=Stage.choices)
    outcome = models.CharField(max_length=9, choices=Outcome.choices)
    result = models.JSONField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["session_uuid", "stage"], name="unique_session_fence")]

    def __str__(self) -> str:
        return f"{self.session_uuid} {self.stage} {self.outcome}"


FINISH_EVENTS = {
    Status.SUCCEEDED: SessionEvent.Kind.SUCCEEDED,
    Status.FAILED: SessionEvent.Kind.FAILED,
    Status.STOPPED: SessionEvent.Kind.STOPPED,
    Status.TIMED_OUT: SessionEvent.Kind.TIMED_OUT,
    Status.LOST: SessionEvent.Kind.LOST,
    Status.CANCELLED: SessionEvent.Kind.CANCELLED,
}


class CompanyAccess(models.Model):
    """A user may work in a company. Superusers may work in every company."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="company_access")
    company = models.CharField(max_length=100)

    class Meta:
        verbose_name = "company access"
        verbose_name_plural = "company access"
        constraints = [models.UniqueConstraint(fields=["user", "company"], name="unique_company_access")]
        ordering = ["user_id", "company"]

    def __str__(self) -> str:
        return f"{self.user} may work in {self.company}"


class ClusterBeat(models.Model):
    """A cluster is alive: its queue reader writes this every few seconds, busy or idle."""

    registry_model = True

    name = models.CharField(max_length=100, primary_key=True, help_text="host:pid of the cluster's sentinel")
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"


class RefusedTask(models.Model):
    """A queued task the broker would not hand to a worker: forged, tampered with, or not allowed."""

    registry_model = True

    at = models.DateTimeField(default=timezone.now, db_index=True)
    broker = models.CharField(max_length=20)
    func = models.CharField(max_length=300, blank=True)
    reason = models.CharField(max_length=500)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.reason}"


def _user_field():
    # The user lives in the control database: no database constraint (see BackgroundSession.user).
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )


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
    user = _user_field()
    username = models.CharField(max_length=150, blank=True)
    timeout = models.DurationField(default=timedelta(hours=12))
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.READY)
    not_before = models.DateTimeField(help_text="it does not start before this (scheduler clock)")
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

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "not_before"], name="task_status_not_before")]

    def __str__(self) -> str:
        return f"Task {self.id} {self.codeunit_name} in {self.company} ({self.status})"

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
    earliest_start = models.DateTimeField(null=True, blank=True, help_text="its next run; empty: as soon as ready")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="it never starts after this")
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
    user = _user_field()
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

    class Meta:
        verbose_name = "job queue entry"
        verbose_name_plural = "job queue entries"
        ordering = ["company", "id"]
        indexes = [models.Index(fields=["status", "earliest_start"], name="job_status_earliest")]

    def __str__(self) -> str:
        what = self.description or self.codeunit_name
        return f"Job {self.id} {what} in {self.company} ({self.status})"

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

    class Meta:
        verbose_name = "job queue log entry"
        verbose_name_plural = "job queue log entries"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Job {self.entry_id} run {self.id} ({self.status})"
