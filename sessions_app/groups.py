"""Parallel work: sessions started together, and one completion once the last of them has ended.

``start`` writes the group and its members' queued rows in one registry commit,
after every member and the completion passed the checks ``start_session``
makes (nothing starts if one is refused), then hands the members to the queue.
Members are ordinary sessions: their own transaction and company, stop,
timeout, and the engine's one re-run of a lost member, which carries the group.

``settle`` decides, once, that a group is over and what follows: under the
group row's lock, conditional on the group still running, and with the
completion's queued row (origin ``group:<id>:then``, unique) in the same
commit. It is asked after every member's end, in the process that recorded it
(``signals.session_finished``); by ``stop``; and by the cluster's check, which
settles a group whose decider died (a worker killed between its member's
commit and the decision, a registry that was down for a while). A member's
outcome is the last session of its chain: a lost member's re-run is written in
the same commit as the loss, so a group is never over between the two.
"""

import logging
from collections import Counter

from django.utils import timezone

from . import limits, transport
from .conf import app_settings
from .exceptions import SessionStartError
from .models import (
    ACTIVE_STATUSES,
    BackgroundSession,
    GroupPolicy,
    GroupStatus,
    Mode,
    SessionEvent,
    SessionGroup,
    Status,
)
from .transactions import write_atomic

logger = logging.getLogger("sessions_app")

GROUP = "group"
"""The kind of a completion's origin: ``group:<id>:then``."""
MAX_MEMBERS = 10_000


def start(members: list, *, then=None, name: str = "", policy: str = GroupPolicy.ALL_SUCCEEDED, user=None):
    """Write a group of already validated starts (``api.PreparedStart``) and queue its members; return the group.

    ``then``: the validated start of the completion codeunit, or ``None``.
    Raise ``SessionStartError("unavailable")`` with nothing written when the
    registry refuses the rows.
    """
    now = timezone.now()
    group = SessionGroup(
        name=str(name)[:200],
        policy=policy,
        size=len(members),
        user=user,
        username=user.get_username() if user is not None else "",
    )
    if then is not None:
        group.then_codeunit_id, group.then_codeunit_name = then.codeunit.id, then.codeunit.name
        group.then_company, group.then_params, group.then_timeout = (
            then.company.name,
            then.record.to_json(),
            then.timeout,
        )
    rows = [
        p.new_session(mode=Mode.BACKGROUND, status=Status.QUEUED, queued_at=now, task_id=transport.new_task_id())
        for p in members
    ]
    try:
        with write_atomic(app_settings.REGISTRY_ALIAS), limits.start_lock(app_settings.REGISTRY_ALIAS):
            for company, count in Counter(row.company for row in rows).items():
                limits.check(company, adding=count)
            group.save(using=app_settings.REGISTRY_ALIAS, force_insert=True)
            for row in rows:
                row.group_id = group.id
            BackgroundSession.objects.bulk_create(rows)
            if rows[0].pk is None:  # a database that returns no ids from a bulk insert: read them back
                ids = BackgroundSession.objects.filter(group_id=group.id).order_by("id").values_list("id", flat=True)
                for row, pk in zip(rows, ids, strict=True):
                    row.pk = row.id = pk
            message = f"member of group {group.id}"
            SessionEvent.objects.bulk_create(
                SessionEvent(session_id=row.id, at=now, kind=SessionEvent.Kind.QUEUED, message=message) for row in rows
            )
    except SessionStartError:
        raise
    except Exception as e:
        raise SessionStartError("unavailable", f"The session registry is unavailable: {e}") from e
    for row in rows:  # committed: a worker that gets one at once finds it; one the broker refuses waits, queued
        try:
            transport.publish(row)
        except Exception:
            logger.exception("group=%s: member %s could not be queued yet; the cluster will", group.id, row.id)
    logger.info("group=%s %s: %s members", group.id, group.name, len(rows))
    return group


def _over(group_id: int) -> bool:
    return not BackgroundSession.objects.filter(group_id=group_id, status__in=ACTIVE_STATUSES).exists()


def settle(group_id: int, ended: BackgroundSession | None = None) -> str | None:
    """Decide, once, whether group ``group_id`` is over, and start its completion; return its new status or ``None``.

    ``None`` while members are still active (or the group was decided
    already). ``ended``: the member whose end asks; under ``fail_fast`` its
    failure decides the group at once, and the others are stopped.
    """
    failed_fast = ended is not None and ended.status not in (Status.SUCCEEDED, *ACTIVE_STATUSES)
    if not failed_fast and not _over(group_id):
        return None  # the last member's end will ask again (a cheap look, without the lock)
    completion = None
    stop = []
    with write_atomic(app_settings.REGISTRY_ALIAS):  # the group row's lock; SQLite's write lock
        group = SessionGroup.objects.select_for_update().filter(pk=group_id, status=GroupStatus.RUNNING).first()
        if group is None:
            return None  # decided already
        final = group.final_members()
        active = [s for s in final if s.status in ACTIVE_STATUSES]
        failed = [s for s in final if s.status not in (Status.SUCCEEDED, *ACTIVE_STATUSES)]
        if active and not (group.policy == GroupPolicy.FAIL_FAST and failed):
            return None
        if active:  # fail fast: the first failure decides, and the others are stopped
            status, stop = GroupStatus.FAILED, active
            message = f"member session {failed[0].id} {failed[0].status}: the other members were stopped"
        else:
            status = GroupStatus.SUCCEEDED if not failed else GroupStatus.FAILED
            message = (
                "every member succeeded" if not failed else f"{len(failed)} of {len(final)} members did not succeed"
            )
        runs = group.then_codeunit_id is not None and (
            status == GroupStatus.SUCCEEDED or (group.policy == GroupPolicy.ALWAYS and not active)
        )
        if runs:
            completion = _stage_completion(group)
            message += f"; its completion runs in session {completion.id}"
        elif group.then_codeunit_id is not None:
            message += "; no completion (its policy asks for every member to succeed)"
        SessionGroup.objects.filter(pk=group_id, status=GroupStatus.RUNNING).update(
            status=status,
            decided_at=timezone.now(),
            completion_id=completion.id if completion else None,
            message=message,
        )
    logger.info("group=%s %s: %s", group_id, status, message)
    if completion is not None:
        try:
            transport.publish(completion)
        except Exception:
            logger.exception("group=%s: its completion %s could not be queued yet", group_id, completion.id)
    if stop:
        _stop_members([s.id for s in stop], f"group {group_id} failed fast")
    return status


def _stage_completion(group: SessionGroup) -> BackgroundSession:
    completion = BackgroundSession(
        codeunit_id=group.then_codeunit_id,
        codeunit_name=group.then_codeunit_name,
        company=group.then_company,
        params=group.then_params,
        user_id=group.user_id,
        username=group.username,
        mode=Mode.BACKGROUND,
        status=Status.QUEUED,
        timeout=group.then_timeout,
        origin=f"{GROUP}:{group.id}:then",
        queued_at=timezone.now(),
        task_id=transport.new_task_id(),
    )
    return BackgroundSession.objects.add(completion, SessionEvent.Kind.QUEUED, f"the completion of group {group.id}")


def _stop_members(session_ids: list[int], comment: str, who: str = "") -> None:
    for session_id in session_ids:
        BackgroundSession.objects.request_stop(session_id, who, comment)


def stop(group_id: int, who: str = "") -> bool:
    """Stop a group's members still queued or running; the group ends ``stopped``, with no completion.

    False if it was decided already.
    """
    with write_atomic(app_settings.REGISTRY_ALIAS):
        decided = SessionGroup.objects.filter(pk=group_id, status=GroupStatus.RUNNING).update(
            status=GroupStatus.STOPPED,
            decided_at=timezone.now(),
            message=f"stopped{f' by {who}' if who else ''}: no completion",
        )
    if not decided:
        return False
    active = BackgroundSession.objects.filter(group_id=group_id, status__in=ACTIVE_STATUSES)
    _stop_members(list(active.values_list("id", flat=True)), f"group {group_id} stopped", who)
    logger.info("group=%s stopped %s", group_id, who)
    return True


def on_session_finished(sender, session: BackgroundSession, **kwargs) -> None:
    """``signals.session_finished``: a member's end may be its group's last."""
    if session.group_id is not None:
        settle(session.group_id, ended=session)


def settle_undecided() -> list[int]:
    """The cluster's check: settle the running groups whose members have all ended; return their ids."""
    return [g for g in SessionGroup.objects.undecided().values_list("id", flat=True) if settle(g) is not None]


def describe_origin(session) -> str:
    kind, _, rest = (session.origin or "").partition(":")
    number = rest.partition(":")[0]
    return f"the completion of group {number}" if kind == GROUP and number.isdecimal() else ""


def resolve_origin(session):
    kind, _, rest = (session.origin or "").partition(":")
    number = rest.partition(":")[0]
    return SessionGroup.objects.filter(pk=int(number)).first() if kind == GROUP and number.isdecimal() else None
