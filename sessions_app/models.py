"""The session registry (on the registry alias) and the company-scoped model base."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


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
    def active(self):
        return self.filter(status__in=ACTIVE_STATUSES)

    def finished(self):
        return self.filter(status__in=FINISHED_STATUSES)

    def for_company(self, name: str):
        return self.filter(company=name)


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
    key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    task_id = models.CharField(max_length=32, blank=True, help_text="django-q2 task id")
    progress_done = models.BigIntegerField(null=True, blank=True)
    progress_total = models.BigIntegerField(null=True, blank=True)
    progress_message = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    stopped_by = models.CharField(max_length=150, blank=True)
    stop_comment = models.CharField(max_length=500, blank=True)
    rerun_of = models.BigIntegerField(null=True, blank=True, help_text="the lost session this one re-runs")

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
