"""The session registry (on the registry alias) and the company-scoped model base."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from . import statements
from .conf import DEFAULT_TIMEOUT, app_settings


class CompanyModel(models.Model):
    """Base class of company-scoped models: their rows live in the current company's database."""

    company_scoped = True

    class Meta:
        abstract = True


def registry_user_field():
    """A registry row's user: it lives in the control database, maybe another file or server, so no
    database constraint (and the row keeps the name for display)."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )


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
    """Its worker ended without a finish record, and its fence was voided: its writes never commit."""
    CANCELLED = "cancelled", "Cancelled"
    """It never ran: stopped while queued, or its caller rolled back."""


ACTIVE_STATUSES = (Status.PENDING, Status.QUEUED, Status.RUNNING)
WAITING_FOR_LOCK = "waiting for the company database"
"""A running session's progress message while its transaction waits for the company's write lock (SQLite)."""
FINISHED_STATUSES = tuple(s for s in Status if s not in ACTIVE_STATUSES)


class Mode(models.TextChoices):
    BACKGROUND = "background", "Background"
    INLINE = "inline", "Inline (debug)"


class RegistryManager(models.Manager):
    """The manager of every registry model: its queries go to the registry database, named here once.

    So no caller names the alias, and no project router can send them elsewhere.
    """

    def get_queryset(self):
        return super().get_queryset().using(app_settings.REGISTRY_ALIAS)


class BackgroundSessionQuerySet(models.QuerySet):
    """Queries by state, and the state changes: each a conditional update and its event, in one commit."""

    def active(self):
        return self.filter(status__in=ACTIVE_STATUSES)

    def finished(self):
        return self.filter(status__in=FINISHED_STATUSES)

    def for_company(self, name: str):
        return self.filter(company=name)

    def untaken(self):
        """Queued background sessions no cluster has taken: the ORM broker's queue."""
        return self.filter(status=Status.QUEUED, fetched_by="", mode=Mode.BACKGROUND)  # inline ones run here

    @staticmethod
    def _event_values(kind: str, message: str = "") -> dict:
        return {"at": timezone.now(), "kind": kind, "message": message}

    def _event(self, session_id: int, kind: str, message: str = "") -> None:
        statements.insert(self.db, SessionEvent, session_id=session_id, **self._event_values(kind, message))

    def add(self, session: "BackgroundSession", kind: str, message: str = "") -> "BackgroundSession":
        """Insert a new session and its first event (``kind``) in one commit; on PostgreSQL in one statement."""
        if statements.can_chain(self.db):
            statements.insert_and_insert(self.db, session, SessionEvent, "session", self._event_values(kind, message))
            return session
        with transaction.atomic(using=self.db):
            statements.insert_instance(self.db, session)
            self._event(session.pk, kind, message)
        return session

    def claim(self, session_id: int, worker: str) -> "BackgroundSession | None":
        """Mark a queued session running on ``worker``; return it, or ``None`` if it was not queued.

        Every session passes here once, so it is as few statements as the
        database allows: on PostgreSQL one (the update, its event and the row
        read back), on SQLite an ``UPDATE ... RETURNING`` and the event.
        """
        now = timezone.now()
        where = {"id": session_id, "status": Status.QUEUED}
        claimed = dict(status=Status.RUNNING, started_at=now, heartbeat_at=now, worker=worker)
        if statements.can_chain(self.db):
            started = self._event_values(SessionEvent.Kind.STARTED, f"on {worker}")
            return statements.update_and_insert(
                self.db, BackgroundSession, where, claimed, SessionEvent, "session", started, fetch=True
            )
        with transaction.atomic(using=self.db):
            if statements.can_return(self.db):
                session = statements.update_returning(self.db, BackgroundSession, where, **claimed)
            elif statements.update(self.db, BackgroundSession, where, **claimed):
                session = self.get(pk=session_id)
            else:
                session = None
            if session is not None:
                self._event(session_id, SessionEvent.Kind.STARTED, f"on {worker}")
            return session

    def take(self, limit: int, cluster: str) -> list[tuple[int, str]]:
        """Mark up to ``limit`` queued sessions no cluster has taken as taken by ``cluster``.

        Return their ``(id, task_id)``. This is the ORM broker's queue: the
        session's own row, so starting a session writes no second queue row
        and finishing it deletes none. Two clusters never take the same row:
        the update re-checks that the row is still untaken.
        """
        untaken = self.untaken()
        ids = list(untaken.order_by("id").values_list("id", flat=True)[:limit])
        if not ids:
            return []
        now = timezone.now()
        with transaction.atomic(using=self.db):
            if not untaken.filter(pk__in=ids).update(fetched_by=cluster, fetched_at=now):
                return []
            mine = self.filter(pk__in=ids, status=Status.QUEUED, fetched_by=cluster, fetched_at=now)
            return list(mine.order_by("id").values_list("id", "task_id"))

    def mark_taken(self, session_ids: list[int], cluster: str) -> int:
        """Note that ``cluster`` took these queued sessions from Redis: only a dead cluster's are queued again."""
        queued = self.filter(pk__in=session_ids, status=Status.QUEUED)
        return queued.update(fetched_by=cluster, fetched_at=timezone.now())

    def finish(self, session_id: int, status: str, *, message: str = "", from_status=None, **fields) -> bool:
        """Move a running session (or one in ``from_status``) to the finished ``status`` with ``fields``.

        False if it was not in that status.
        """
        fields.setdefault("finished_at", timezone.now())
        where = {"id": session_id, "status": from_status or Status.RUNNING}
        values = dict(status=status, **fields)
        if statements.can_chain(self.db):
            event = self._event_values(FINISH_EVENTS[status], message)
            return (
                statements.update_and_insert(self.db, BackgroundSession, where, values, SessionEvent, "session", event)
                is not None
            )
        with transaction.atomic(using=self.db):
            if not statements.update(self.db, BackgroundSession, where, **values):
                return False
            self._event(session_id, FINISH_EVENTS[status], message)
        return True

    def queue_pending(self, session_id: int, task_id: str, message: str) -> bool:
        """Queue a session that waited for its caller's commit, as task ``task_id``; False if it was not pending."""
        with transaction.atomic(using=self.db):
            if not self.filter(pk=session_id, status=Status.PENDING).update(
                status=Status.QUEUED, task_id=task_id, queued_at=timezone.now()
            ):
                return False
            self._event(session_id, SessionEvent.Kind.QUEUED, message)
        return True

    def requeue(self, session_id: int, queued_at, task_id: str, message: str) -> bool:
        """Queue a queued session again as task ``task_id``; False if it was claimed or queued again meanwhile."""
        with transaction.atomic(using=self.db):
            if not self.filter(pk=session_id, status=Status.QUEUED, queued_at=queued_at).update(
                queued_at=timezone.now(), task_id=task_id, fetched_by="", fetched_at=None
            ):
                return False
            self._event(session_id, SessionEvent.Kind.QUEUED, message)
        return True

    def request_stop(self, session_id: int, who: str, comment: str) -> str | None:
        """Cancel a session that has not started, or ask a running one to stop.

        Return ``Status.CANCELLED``, ``Status.RUNNING`` (asked to stop), or ``None``
        if it had finished or was asked already.
        """
        now = timezone.now()
        asked = dict(stop_requested_at=now, stopped_by=who, stop_comment=comment)
        message = " ".join(part for part in (f"by {who}" if who else "", comment) if part)
        with transaction.atomic(using=self.db):
            mine = self.filter(pk=session_id)
            if mine.filter(status__in=(Status.PENDING, Status.QUEUED)).update(
                status=Status.CANCELLED, finished_at=now, **asked
            ):
                self._event(session_id, SessionEvent.Kind.CANCELLED, message)
                return Status.CANCELLED
            if mine.filter(status=Status.RUNNING, stop_requested_at__isnull=True).update(**asked):
                self._event(session_id, SessionEvent.Kind.STOP_REQUESTED, message)
                return Status.RUNNING
        return None

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
    generated = models.JSONField(
        default=list,
        null=True,
        blank=True,
        help_text="the parameters a default factory made for this run: a re-run makes its own (null: not recorded)",
    )
    user = registry_user_field()
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
    timeout = models.DurationField(default=DEFAULT_TIMEOUT)
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
    rerun_of = models.BigIntegerField(
        null=True, blank=True, help_text="the session this one runs again (a user's re-run, or a lost one's)"
    )
    awaits = models.JSONField(
        default=list, blank=True, help_text="the aliases whose commit a pending session waits for (on_commit=True)"
    )
    group_id = models.BigIntegerField(null=True, blank=True, help_text="the group it is a member of (start_group)")
    error_type = models.CharField(max_length=200, blank=True, help_text="the class of the exception it failed with")
    retriable = models.BooleanField(default=False, help_text="it failed with an error that may pass if tried again")

    objects = RegistryManager.from_queryset(BackgroundSessionQuerySet)()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "-id"], name="session_status_id"),
            models.Index(fields=["status", "company"], name="session_status_company"),
            models.Index(fields=["finished_at"], name="session_finished_at"),
            models.Index(fields=["group_id", "status"], name="session_group_status"),
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

    @property
    def is_waiting_for_company(self) -> bool:
        """Running, but still waiting for its company's write lock (SQLite: one writer at a time)."""
        return self.status == Status.RUNNING and self.progress_message == WAITING_FOR_LOCK

    @property
    def status_label(self) -> str:
        """The status as people read it: a running session still waiting for its company's database says so."""
        if self.is_waiting_for_company:
            return "Waiting for the company database"
        return self.get_status_display()

    def company_holder(self) -> "BackgroundSession | None":
        """While it waits for its company: the running session that holds the company, or ``None`` (another writer).

        The earliest started of the company's running sessions that do not wait
        themselves: sessions take the company in the order they came.
        """
        if not self.is_waiting_for_company:
            return None
        running = BackgroundSession.objects.filter(company=self.company, status=Status.RUNNING).exclude(pk=self.pk)
        return running.exclude(progress_message=WAITING_FOR_LOCK).order_by("started_at", "id").first()

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


PAGE_EVENT_CHARS = 100_000
"""Characters of event text one page shows: escaped for HTML (at worst five times as long), a page stays under 1 MB."""


class SessionEventQuerySet(models.QuerySet):
    def for_page(self, session_id: int) -> tuple[list["SessionEvent"], int]:
        """The session's events a page shows, in order, up to ``PAGE_EVENT_CHARS`` of text; and how many it leaves out.

        A session may log a thousand lines of 500 characters: all of them, as
        HTML, would make a page of several megabytes.
        """
        events = self.filter(session_id=session_id).order_by("id")
        shown, used = [], 0
        for event in events[:2000]:
            used += len(event.message)
            if used > PAGE_EVENT_CHARS:
                break
            shown.append(event)
        hidden = 0 if len(shown) < 2000 and used <= PAGE_EVENT_CHARS else events.count() - len(shown)
        return shown, hidden


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

    objects = RegistryManager.from_queryset(SessionEventQuerySet)()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        message = self.message if len(self.message) <= 80 else f"{self.message[:77]}..."
        return f"{self.at:%H:%M:%S} {self.kind} {message}"


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


class GroupPolicy(models.TextChoices):
    """What a group's members' outcomes mean for its completion (``then``)."""

    ALL_SUCCEEDED = "all_succeeded", "Complete only if every member succeeded"
    ALWAYS = "always", "Complete whatever the members' outcomes"
    FAIL_FAST = "fail_fast", "At the first failure, stop the others; no completion"


class GroupStatus(models.TextChoices):
    RUNNING = "running", "Running"
    """Members are still pending, queued or running."""
    SUCCEEDED = "succeeded", "Succeeded"
    """Every member succeeded (its completion, if any, was started)."""
    FAILED = "failed", "Failed"
    """A member did not succeed; its completion was started only if the policy says so (``always``)."""
    STOPPED = "stopped", "Stopped"
    """Stopped with ``stop_group``: no completion."""


class SessionGroupQuerySet(models.QuerySet):
    def undecided(self):
        return self.filter(status=GroupStatus.RUNNING)


class SessionGroup(models.Model):
    """Sessions started together, and the codeunit that runs once when the last of them has ended.

    The decision that the group is over (and the completion's queued row) is
    one registry commit, taken under the group row's lock and conditional on
    ``status = running``: two members ending at once, or the cluster's check
    after a crash, cannot both decide (``groups.py``).
    """

    registry_model = True

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=200, blank=True)
    policy = models.CharField(max_length=15, choices=GroupPolicy.choices, default=GroupPolicy.ALL_SUCCEEDED)
    status = models.CharField(max_length=10, choices=GroupStatus.choices, default=GroupStatus.RUNNING)
    size = models.PositiveIntegerField(help_text="members started")
    then_codeunit_id = models.PositiveIntegerField(null=True, blank=True)
    then_codeunit_name = models.CharField(max_length=30, blank=True)
    then_company = models.CharField(max_length=100, blank=True)
    then_params = models.JSONField(default=dict, blank=True)
    then_timeout = models.DurationField(default=DEFAULT_TIMEOUT)
    user = registry_user_field()
    username = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True, help_text="when its last member's end was seen")
    completion_id = models.BigIntegerField(null=True, blank=True, help_text="the session its completion runs in")
    message = models.CharField(max_length=500, blank=True, help_text="how it was decided")

    objects = RegistryManager.from_queryset(SessionGroupQuerySet)()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "-id"], name="group_status_id")]
        permissions = [("stop_sessiongroup", "Can stop groups of sessions")]

    def __str__(self) -> str:
        return f"Group {self.id} {self.name or ''}".rstrip() + f" ({self.status})"

    @property
    def is_decided(self) -> bool:
        return self.status != GroupStatus.RUNNING

    def final_members(self) -> list[BackgroundSession]:
        """The last session of each member's chain, in the order started (a lost member's re-run replaces it)."""
        sessions = list(BackgroundSession.objects.filter(group_id=self.id).order_by("id"))
        superseded = {int(s.origin.split(":")[1]) for s in sessions if (s.origin or "").startswith("rerun:")}
        return [s for s in sessions if s.id not in superseded]

    def outcomes(self) -> list[dict]:
        """How each member ended: session id, codeunit, company, status, result and error (a completion's input)."""
        return [
            {
                "session_id": s.id,
                "codeunit_id": s.codeunit_id,
                "codeunit_name": s.codeunit_name,
                "company": s.company,
                "status": s.status,
                "result": s.result,
                "error": s.error,
            }
            for s in self.final_members()
        ]

    def companies(self) -> set[str]:
        """The companies its members and its completion work in."""
        members = BackgroundSession.objects.filter(group_id=self.id).values_list("company", flat=True).distinct()
        return {*members, *([self.then_company] if self.then_company else [])}

    def progress(self) -> tuple[int, int]:
        """Members that have ended (by their chains' last sessions), and how many there are."""
        final = self.final_members()
        return sum(1 for s in final if s.is_finished), len(final)


class ClusterBeat(models.Model):
    """A cluster is alive: its queue reader writes this every few seconds, busy or idle."""

    registry_model = True

    name = models.CharField(max_length=100, primary_key=True, help_text="host:pid of the cluster's sentinel")
    beat_at = models.DateTimeField()

    objects = RegistryManager()

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"


class RefusedTask(models.Model):
    """A queued task the broker would not hand to a worker: forged, tampered with, or not allowed."""

    registry_model = True

    at = models.DateTimeField(default=timezone.now, db_index=True)
    broker = models.CharField(max_length=20)
    func = models.CharField(max_length=300, blank=True)
    reason = models.CharField(max_length=500)

    objects = RegistryManager()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.reason}"
