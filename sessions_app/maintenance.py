"""Housekeeping the cluster does by itself: sessions whose worker died, callers' commits, old rows.

Every django-q2 worker process runs ``MaintenanceThread`` (started on
django-q2's ``post_spawn`` signal), so no extra daemon or schedule is needed;
one worker per cluster leads (``leader.py``) and checks every few seconds
while it lives. Each new worker's first pass comes at once, so a worker
spawned to replace one that died settles that worker's session within a second. Each step is decided by the company's
fence and written as a conditional update, so several workers doing it at
once is harmless. Pruning old rows waits for company databases that running
sessions hold, so it runs in a thread of its own (``PruneThread``): it never
delays the checks that settle and stop sessions.

A lost session is run once more by the engine only when it was started
directly (no ``origin``) and its codeunit asks for it (``rerun_lost``); a
session that belongs to a layer above (a scheduled task's attempt, a job
queue entry's run) is retried by that layer alone, and a re-run that is lost
again ends its chain.
"""

import contextlib
import logging
import os
import signal
import threading
import time
from datetime import timedelta

from django.db import connections, transaction
from django.utils import timezone

from . import fence, groups, leader, pending, retry, runner, signals, transport
from .codeunits import registry
from .companies import all_companies, get_company
from .conf import app_settings
from .exceptions import UnknownCodeunit, UnknownCompany
from .models import BackgroundSession, GroupStatus, Mode, SessionEvent, SessionGroup, Status
from .origins import RERUN
from .pace import Pace

logger = logging.getLogger("sessions_app")

PRUNE_EVERY = 3600.0  # seconds
PRUNE_BATCH = 1000
OVERDUE_AFTER = 5.0  # seconds past the stop grace before another process ends a worker that ignored a stop
FETCHED_GRACE = 2.0  # seconds after a fetch before a dead cluster's sessions are queued again
CLUSTER_DEAD_AFTER = 60.0  # seconds without a beat before a cluster on another host is taken for dead
PENDING_SETTLE_AFTER = 1.0  # seconds a pending session is left to its caller's on-commit callback


def settle_running() -> list[int]:
    """Settle running sessions whose worker is gone or silent; return the ids of those settled.

    A worker that is known dead (this host, no such process) is settled at
    once; any other session only once its heartbeat is older than
    ``SESSIONS_LOST_AFTER``. A silent heartbeat alone decides nothing: the
    company's fence does (``settle``). A worker that ignores a stop for longer
    than it could (a C call that never lets the watcher run) is ended first.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=app_settings.LOST_AFTER)
    host = app_settings.HOST
    settled = []
    for s in BackgroundSession.objects.filter(status=Status.RUNNING):
        pid = _local_pid(s.worker, host)
        dead = pid is not None and not _alive(pid)
        if not dead and pid is not None and _overdue(s, now):
            _kill(s, pid)
            dead = True
        if not dead and (s.heartbeat_at is None or s.heartbeat_at >= stale):
            continue
        if settle(s, holder_gone=dead) is not None:
            settled.append(s.id)
    return settled


def settle(s: BackgroundSession, *, holder_gone: bool = False) -> str | None:
    """Decide how a running session ended from its company's fence; return its status, or ``None`` if alive.

    Committed: ``succeeded``, with the result its fence row holds. Not
    committed: the fence is voided first, so the session's transaction can no
    longer commit, and only then is it ``stopped``, ``timed_out`` or ``lost``.
    ``holder_gone``: its process is known to no longer exist (``fence.void``).
    """
    try:
        alias = get_company(s.company).alias
    except UnknownCompany:
        return None  # its company left the settings; nobody can say what its work did
    verdict = fence.void(alias, s.uuid, fence.RUN, holder_gone=holder_gone)
    sessions = BackgroundSession.objects
    again = False
    if verdict.outcome == fence.BUSY:
        logger.info("session=%s is silent but its transaction is open: not lost", s.id)
        return None
    if verdict.outcome == fence.COMMITTED:
        if sessions.finish(
            s.id,
            Status.SUCCEEDED,
            message="recorded from its company's fence: its worker ended before recording it",
            result=verdict.result,
            finished_at=verdict.at,
        ):
            logger.warning("session=%s succeeded: its finish record was missing; the fence says committed", s.id)
            runner.finished(sessions.get(pk=s.id))
            return Status.SUCCEEDED
        return None
    if s.stop_requested_at is not None:
        status, error = runner.stop_outcome(s.id, "stopped", s.timeout, ended_worker=True)
    elif s.started_at is not None and s.started_at + s.timeout <= timezone.now():
        status, error = runner.stop_outcome(s.id, "timed_out", s.timeout, ended_worker=True)
    else:
        last = f"{s.heartbeat_at:%Y-%m-%d %H:%M:%S%z}" if s.heartbeat_at else "never"
        status = Status.LOST
        error = (
            f"Worker {s.worker} ended without recording an outcome (last heartbeat {last}); "
            "its transaction did not commit and now never can."
        )
        again, why_not = runs_again(s)
        error = f"{error} {why_not}" if why_not else error
    rerun = None
    with transaction.atomic(using=app_settings.REGISTRY_ALIAS):  # the loss and its one re-run: one commit
        if not sessions.finish(s.id, status, message=error, error=error):
            return None
        if again:
            rerun = _stage_rerun(s)
    logger.error("session=%s %s: %s", s.id, status, error)
    if rerun is not None:
        _enqueue_rerun(s, rerun)
    runner.finished(sessions.get(pk=s.id))
    return status


def _local_pid(worker: str, host: str) -> int | None:
    name, _, pid = (worker or "").rpartition(":")
    return int(pid) if name == host and pid.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _overdue(s: BackgroundSession, now) -> bool:
    """A background session asked to end (stop or timeout) long ago whose worker has not ended it."""
    if s.mode != Mode.BACKGROUND:
        return False  # an inline session runs in a caller's process, which is never ended
    grace = timedelta(seconds=app_settings.STOP_GRACE + OVERDUE_AFTER)
    asked = s.stop_requested_at
    if s.started_at is not None:
        deadline = s.started_at + s.timeout
        asked = deadline if asked is None else min(asked, deadline)
    return asked is not None and asked + grace <= now


def _kill(s: BackgroundSession, pid: int) -> None:
    logger.error("session=%s: its worker %s ignored the stop; ending it", s.id, pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(50):  # the kernel ends it at once; the parent reaps it
        if not _alive(pid) or _zombie(pid):
            return
        time.sleep(0.02)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def runs_again(s: BackgroundSession) -> tuple[bool, str]:
    """Does the engine run lost session ``s`` once more? If its codeunit asks but it does not, say why.

    Once more means once per start: the re-run of a lost session is never
    re-run (its worker died twice, as it will every time). A session that a
    layer above started (``origin``: a scheduled task, a job queue entry) is
    that layer's to retry, never the engine's as well.
    """
    try:
        cu = registry.get(s.codeunit_id)
    except UnknownCodeunit:
        return False, ""
    if not cu.rerun_lost:
        return False, ""
    if s.origin is None:
        return True, ""
    kind, _, earlier = s.origin.partition(":")
    if kind == RERUN and earlier.isdecimal():
        return False, retry.died_twice(int(earlier), s.id)
    return False, ""


def _stage_rerun(lost: BackgroundSession) -> BackgroundSession:
    """Write the one re-run of ``lost`` as a queued session, in the registry transaction that records the loss.

    So nobody ever reads a lost session whose promised re-run does not exist
    yet (a task result would read failed, then ready again), and two settlers
    cannot both start one: its origin is unique. No concurrency limit applies:
    it takes the place of the session that was lost.
    """
    rerun = BackgroundSession(
        codeunit_id=lost.codeunit_id,
        codeunit_name=lost.codeunit_name,
        company=lost.company,
        params=lost.params,  # the same work again: a generated value (a GUID) too, since it never committed
        generated=lost.generated,
        group_id=lost.group_id,  # a member's re-run is the member: its group waits for it
        user_id=lost.user_id,
        username=lost.username,
        timeout=lost.timeout,
        mode=Mode.BACKGROUND,
        status=Status.QUEUED,
        origin=f"{RERUN}:{lost.id}",
        rerun_of=lost.id,
        queued_at=timezone.now(),
        task_id=transport.new_task_id(),
    )
    BackgroundSession.objects.add(rerun, SessionEvent.Kind.QUEUED, f"the re-run of lost session {lost.id}")
    SessionEvent.objects.create(
        session_id=lost.id, kind=SessionEvent.Kind.RERUN, message=f"re-run as session {rerun.id}"
    )
    return rerun


def _enqueue_rerun(lost: BackgroundSession, rerun: BackgroundSession) -> None:
    """Hand a committed re-run to the broker; if it is down, the re-run waits, queued, for ``requeue_stranded``."""
    try:
        transport.publish(rerun)
    except Exception:
        logger.exception("session=%s: its re-run %s could not be queued yet", lost.id, rerun.id)
        return
    logger.warning("session=%s re-run as session %s", lost.id, rerun.id)


def resolve_pending() -> list[int]:
    """Queue or cancel pending sessions by what their callers committed (the fence); return those decided.

    The caller's on-commit callback normally queues a pending session at once,
    and the caller's own thread settles one whose callbacks were dropped
    (``pending.settle_ended``); this catches the rest, a caller that died or
    that never started another session or finished a request.
    """
    cutoff = timezone.now() - timedelta(seconds=PENDING_SETTLE_AFTER)
    decided = []
    for session_id in BackgroundSession.objects.filter(status=Status.PENDING, created_at__lt=cutoff).values_list(
        "id", flat=True
    ):
        if pending.resolve(session_id) is not None:
            decided.append(session_id)
    return decided


def cancel_abandoned() -> int:
    """Cancel sessions that have waited for their caller's commit longer than ``PENDING_MAX_AGE``."""
    cutoff = timezone.now() - app_settings.PENDING_MAX_AGE
    ids = list(
        BackgroundSession.objects.filter(status=Status.PENDING, created_at__lt=cutoff).values_list("id", flat=True)
    )
    message = f"the caller never committed within {app_settings.PENDING_MAX_AGE}"
    return sum(BackgroundSession.objects.cancel_pending(session_id, message) for session_id in ids)


def requeue_stranded(batch: int = 100) -> list[int]:
    """Queue again the sessions whose task the broker really lost; return their ids.

    A cluster killed with ``kill -9`` takes the tasks it had fetched with it (a
    Redis pop, or a session row the ORM broker marked as taken): sessions
    taken by a cluster that is dead are queued again. A session no cluster
    took is still in the broker, however long the queue, unless the broker
    lost it (a Redis restart; never with the ORM broker, where the row is
    the task): it is queued again only when it has waited
    ``SESSIONS_REQUEUE_AFTER`` and the broker holds nothing at all.
    The worker's claim runs a session once whatever happens.
    """
    now = timezone.now()
    queued = BackgroundSession.objects.filter(status=Status.QUEUED)
    taken = queued.exclude(fetched_by="").filter(fetched_at__lt=now - timedelta(seconds=FETCHED_GRACE))
    dead = _dead_clusters(set(taken.values_list("fetched_by", flat=True).distinct()), now)
    stranded = list(taken.filter(fetched_by__in=dead).order_by("id")[:batch])
    why = {s.id: f"the cluster {s.fetched_by} that took it is gone" for s in stranded}
    if len(stranded) < batch:
        untaken = queued.filter(fetched_by="", queued_at__lt=now - app_settings.REQUEUE_AFTER).order_by("id")
        if transport.can_lose_tasks() and untaken.exists() and transport.is_empty():
            lost = list(untaken[: batch - len(stranded)])
            stranded += lost
            why.update({s.id: f"the broker lost it (queued {app_settings.REQUEUE_AFTER} ago)" for s in lost})
    requeued = []
    for s in stranded:
        s.task_id = transport.new_task_id()
        try:
            with transaction.atomic(using=app_settings.REGISTRY_ALIAS):  # no push, no record of one
                if not BackgroundSession.objects.requeue(s.id, s.queued_at, s.task_id, f"queued again: {why[s.id]}"):
                    continue
                transport.publish(s)
        except Exception:
            logger.exception("session=%s could not be queued again", s.id)
            continue
        requeued.append(s.id)
        logger.warning("session=%s queued again: %s", s.id, why[s.id])
    return requeued


def _dead_clusters(names: set[str], now) -> set[str]:
    """The clusters among ``names`` known to be dead: on this host no such process, elsewhere no recent beat."""
    from .models import ClusterBeat

    host = app_settings.HOST
    beats = dict(ClusterBeat.objects.filter(name__in=names).values_list("name", "beat_at"))
    dead = set()
    for name in names:
        pid = _local_pid(name, host)
        if pid is not None:
            if not _alive(pid):
                dead.add(name)
        elif name not in beats or beats[name] < now - timedelta(seconds=CLUSTER_DEAD_AFTER):
            dead.add(name)
    return dead


def prune(older_than: timedelta) -> int:
    """Delete finished sessions (and their events), and decided groups, that ended before ``now - older_than``."""
    cutoff = timezone.now() - older_than
    total = 0
    while True:
        ids = list(
            BackgroundSession.objects.finished()
            .filter(finished_at__lt=cutoff)
            .values_list("id", flat=True)[:PRUNE_BATCH]
        )
        if not ids:
            SessionGroup.objects.exclude(status=GroupStatus.RUNNING).filter(decided_at__lt=cutoff).delete()
            return total
        SessionEvent.objects.filter(session_id__in=ids).delete()
        total += BackgroundSession.objects.filter(pk__in=ids).delete()[1].get(BackgroundSession._meta.label, 0)


def prune_others(older_than: timedelta, *, robust: bool = True) -> int:
    """Ask the layers built on sessions (the ``prune`` signal) to delete their own finished rows; return how many."""
    send = signals.prune.send_robust if robust else signals.prune.send
    replies = send(sender=BackgroundSession, older_than=older_than)
    return sum(count for _, count in replies if isinstance(count, int))


def prune_fences(older_than: timedelta) -> int:
    """Delete fence rows older than ``now - older_than`` in ``default`` and every company database."""
    cutoff = timezone.now() - older_than
    total = 0
    for alias in ["default", *(c.alias for c in all_companies())]:
        try:
            total += fence.prune(alias, cutoff)
        except Exception:
            logger.exception("could not prune the fence rows of %s", alias)
    return total


def run_once() -> dict:
    """One pass of every check; return what it did.

    Every check looks at active sessions only: when there are none, one query
    says so and the pass ends there, so an idle cluster stays quiet.
    """
    done = {"active": False, "settled": [], "pending": [], "abandoned": 0, "requeued": [], "groups": []}
    if BackgroundSession.objects.active().exists():
        done.update(
            active=True,
            settled=settle_running(),
            pending=resolve_pending(),
            abandoned=cancel_abandoned(),
            requeued=requeue_stranded(),
        )
    # A group whose decider died between its last member's end and the decision: no session is active then.
    if SessionGroup.objects.undecided().exists():
        done["groups"] = groups.settle_undecided()
    return done


def prune_all() -> int:
    """Delete what is older than ``SESSIONS_RETENTION_DAYS``: sessions, the layers' rows, fence rows."""
    days = app_settings.RETENTION_DAYS
    if days is None:
        return 0
    total = prune(timedelta(days=days))
    prune_others(timedelta(days=days))
    prune_fences(timedelta(days=days))
    return total


class PruneThread(threading.Thread):
    """One prune, away from the checks: it may wait for a company database a long session holds."""

    def __init__(self):
        super().__init__(name="sessions-prune", daemon=True)

    def run(self):
        try:
            logger.info("pruned %s finished sessions", prune_all())
        except Exception:
            logger.exception("pruning failed; trying again in %s s", PRUNE_EVERY)
        finally:
            connections.close_all()


class MaintenanceThread(threading.Thread):
    def __init__(self):
        super().__init__(name="sessions-maintenance", daemon=True)
        self.pace = Pace()
        self.pruning: PruneThread | None = None

    def run(self):
        # The first pass comes at once in every new worker: one spawned to replace a worker that
        # died settles that worker's session now. After it, only the cluster's leader looks.
        first = True
        while True:
            interval = app_settings.MAINTENANCE_INTERVAL
            try:
                self.step(first)
            except Exception:
                logger.exception("sessions maintenance failed; trying again")
                connections.close_all()
            first = False
            # With no active session there is nothing to settle: an idle cluster looks half as often.
            time.sleep(self.pace.wait(interval, 2 * interval))

    def step(self, first: bool = False) -> None:
        """One look: the checks if this worker leads (or is new), and a prune started beside them when due."""
        if first:
            settle_running()
        elif (lead := leader.leadership()).held():
            if run_once()["active"]:
                self.pace.worked()
            transport.unstall()
            self._prune_if_due(lead)

    def _prune_if_due(self, lead: leader.Leadership) -> None:
        """Start a prune once every ``PRUNE_EVERY`` seconds in the cluster, whichever worker leads then."""
        if self.pruning is not None and self.pruning.is_alive():
            return
        if lead.due("prune", PRUNE_EVERY):
            self.pruning = PruneThread()
            self.pruning.start()


_thread: MaintenanceThread | None = None


def start_in_worker(sender=None, **kwargs) -> None:
    """django-q2 ``post_spawn`` receiver: start the maintenance thread in this worker process."""
    global _thread
    transport.note_task_queue()
    if _thread is None or not _thread.is_alive():
        _thread = MaintenanceThread()
        _thread.start()
