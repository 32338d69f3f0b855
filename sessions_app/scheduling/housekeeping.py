"""How the scheduling layer plugs into the engine: its origins, and pruning its finished rows."""

from django.utils import timezone

from .models import JobQueueEntry, JobQueueLogEntry, ScheduledTask, TaskStatus


def _parse(session) -> tuple[str, int, str] | None:
    kind, _, rest = (session.origin or "").partition(":")
    number, _, which = rest.partition(":")
    if not number.isdigit() or len(number) > 18:
        return None
    return kind, int(number), which


def resolve_origin(session):
    """Return the scheduled task or job queue entry that started ``session`` (in its company), or ``None``."""
    parsed = _parse(session)
    if parsed is None:
        return None
    kind, number, _ = parsed
    model = ScheduledTask if kind == "task" else JobQueueEntry if kind == "job" else None
    if model is None:
        return None
    return model.objects.filter(pk=number, company=session.company).first()


def describe_origin(session) -> str:
    """What scheduled ``session``: "scheduled task 5, attempt 2", "job queue entry 7 (…), run 3", or ``""``."""
    parsed, found = _parse(session), resolve_origin(session)
    if parsed is None or found is None:
        return ""
    kind, _, which = parsed
    if kind == "task":
        return f"scheduled task {found.id}, " + ("its failure codeunit" if which == "failure" else f"attempt {which}")
    return f"job queue entry {found.id} ({found.description or found.codeunit_name}), run {which}"


def prune_finished(sender=None, older_than=None, **kwargs) -> int:
    """Delete finished scheduled tasks and job queue log entries older than ``now - older_than``."""
    cutoff = timezone.now() - older_than
    finished = (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED)
    tasks = ScheduledTask.objects.all()
    logs = JobQueueLogEntry.objects.all()
    deleted = tasks.filter(status__in=finished, finished_at__lt=cutoff).delete()[0]
    return deleted + logs.filter(finished_at__lt=cutoff).delete()[0]
