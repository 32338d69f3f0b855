"""The one door: admin, views and commands start and watch sessions through here.

``start_session`` validates everything first (codeunit, company, parameter
record, timeout, permission) and writes nothing when it raises. The session
row is written on the registry's own connection, so it is committed at once
whatever transaction the caller holds open, and it is enqueued only after that
commit (or, with ``on_commit=True``, only after the caller's own commit).
"""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, IntegrityError, connections
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from . import groups, limits, pending, runner, transport
from .access import can_access
from .codeunits import Codeunit, registry
from .companies import Company, current_company, get_company
from .conf import app_settings
from .context import running_session
from .exceptions import (
    GroupNotFound,
    GroupWaitTimeout,
    RecordValidationError,
    SessionNotFound,
    SessionStartError,
    SessionWaitTimeout,
    UnknownCodeunit,
    UnknownCompany,
)
from .models import BackgroundSession, GroupPolicy, Mode, SessionEvent, SessionGroup, Status
from .records import ParameterRecord

logger = logging.getLogger("sessions_app")

__all__ = [
    "start_session",
    "try_start_session",
    "run_codeunit",
    "wait_session",
    "is_session_active",
    "get_session",
    "prepare_start",
    "stop_session",
    "request_stop",
    "rerun_session",
    "start_group",
    "get_group",
    "wait_group",
    "stop_group",
]


@dataclass(frozen=True)
class PreparedStart:
    """A start request that passed every check: the codeunit, company, parameter record, timeout and user."""

    codeunit: Codeunit
    company: Company
    record: ParameterRecord
    timeout: timedelta
    user: Any

    def new_session(self, *, mode: str, status: str, key: str | None = None, **fields) -> BackgroundSession:
        """The unsaved registry row of this start: the one place a validated start becomes a session."""
        return BackgroundSession(
            codeunit_id=self.codeunit.id,
            codeunit_name=self.codeunit.name,
            company=self.company.name,
            params=self.record.to_json(),
            generated=sorted(self.record.generated_fields),
            user=self.user,
            username=self.user.get_username() if self.user is not None else "",
            mode=mode,
            status=status,
            timeout=self.timeout,
            key=key,
            **fields,
        )


def prepare_start(codeunit, company=None, params=None, timeout=None, user=None) -> PreparedStart:
    """Validate a start request without starting anything; raise ``SessionStartError`` naming the first bad part.

    For layers that start sessions later (a scheduler): what ``start_session`` would check now.
    """
    try:
        cu = registry.get(codeunit)
    except UnknownCodeunit as e:
        raise SessionStartError("unknown_codeunit", str(e)) from e

    if company is None:
        company = current_company()
        if company is None:
            raise SessionStartError("unknown_company", "No company given and there is no current company.")
    try:
        company = get_company(company)
    except UnknownCompany as e:
        raise SessionStartError("unknown_company", str(e)) from e

    try:
        record = cu.params.validate(params)
    except RecordValidationError as e:
        raise SessionStartError("invalid_params", str(e), errors=e.errors) from e

    if timeout is None:
        timeout = app_settings.DEFAULT_TIMEOUT
    elif isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        timeout = timedelta(seconds=timeout)
    if not isinstance(timeout, timedelta) or not timedelta(seconds=1) <= timeout <= app_settings.MAX_TIMEOUT:
        if isinstance(timeout, timedelta):
            message = f"Timeout {seconds_in_words(timeout)} seconds must be {timeout_bounds()}."
        else:
            message = f"Timeout {timeout!r} is not a number of seconds or a timedelta: it must be {timeout_bounds()}."
        raise SessionStartError("invalid_params", message, errors={"timeout": [message]})

    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    if user is not None:
        if not user.has_perm("sessions_app.start_session"):
            raise SessionStartError("permission_denied", f"User {user.get_username()!r} may not start sessions.")
        if not can_access(user, company):
            raise SessionStartError(
                "permission_denied", f"User {user.get_username()!r} may not work in company {company.name!r}."
            )
    return PreparedStart(cu, company, record, timeout, user)


def seconds_in_words(value: timedelta) -> str:
    """A duration as a number of seconds a person would type: "100000", "0.5"."""
    seconds = value.total_seconds()
    return str(int(seconds)) if seconds.is_integer() else f"{seconds:.6f}".rstrip("0")


def timeout_bounds() -> str:
    """The timeouts a start takes, as every door says it: "between 1 and 86400 seconds (24 hours, the ... setting)"."""
    ceiling = app_settings.MAX_TIMEOUT
    seconds = ceiling.total_seconds()
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            words = f"{count} {unit}{'s' if count != 1 else ''}"
            break
    else:
        words = ""
    setting = f"{words}, the SESSIONS_MAX_TIMEOUT setting" if words else "the SESSIONS_MAX_TIMEOUT setting"
    return f"between 1 and {seconds_in_words(ceiling)} seconds ({setting})"


def start_session(
    codeunit,
    *,
    company=None,
    params=None,
    timeout=None,
    on_commit: bool = False,
    key: str | None = None,
    user=None,
    debug: bool | None = None,
    rerun_of: int | None = None,
    origin: str | None = None,
) -> BackgroundSession:
    """Start ``codeunit`` in a background session and return its registry row.

    ``codeunit`` is an id, a name or the registered function; ``company`` a
    company name (default: the current company); ``params`` a dict or a
    parameter record; ``timeout`` a ``timedelta`` or seconds. With
    ``on_commit=True`` the session is queued only once the caller's open
    transactions commit, and cancelled if they roll back. A ``key`` that was
    used before returns that session instead of starting another. ``debug``
    runs it inline now (default: ``SESSIONS_DEBUG``). ``origin`` is the
    idempotency key of code that schedules sessions (``"task:5:2"``): it lives
    apart from callers' keys, so no ``key`` can ever meet it.

    Raise ``SessionStartError`` (``.reason``) when it cannot start; nothing is
    written or enqueued then. ``on_commit=True`` in manual transaction
    management (``set_autocommit(False)``) raises ``TransactionManagementError``,
    as Django's ``on_commit`` does.
    """
    pending.settle_ended()  # this thread's earlier on-commit starts whose transactions have ended
    prepared = prepare_start(codeunit, company, params, timeout, user)
    _refuse_inside_registry_transaction()
    if on_commit:
        _refuse_manual_transactions()
    if key is not None:
        if not isinstance(key, str) or not 0 < len(key) <= 200 or "\x00" in key:
            raise SessionStartError(
                "invalid_params",
                "key must be 1 to 200 characters, with no NUL character.",
                {"key": ["1 to 200 characters, with no NUL character."]},
            )
        existing = _find_key(key)
        if existing is not None:
            return existing
    if origin is not None:
        existing = _find_key(origin, field="origin")
        if existing is not None:
            return existing
    if debug is None:
        debug = app_settings.DEBUG
    if debug:
        session, _ = _run_inline(prepared, key=key, origin=origin, rerun_of=rerun_of)
        return session

    waiting_on = pending.open_transactions() if on_commit else []
    status = Status.PENDING if waiting_on else Status.QUEUED
    session = prepared.new_session(mode=Mode.BACKGROUND, status=status, key=key)
    session.rerun_of, session.origin, session.awaits = rerun_of, origin, waiting_on
    try:
        if status == Status.QUEUED:
            _create_and_enqueue(session)
        else:
            with limits.start_lock(app_settings.REGISTRY_ALIAS):
                limits.check(session.company)
                _create(session, SessionEvent.Kind.CREATED, f"waiting for commit on {', '.join(waiting_on)}")
            pending.watch(session, waiting_on)
    except IntegrityError:
        existing = (_find_key(key) if key else None) or (_find_key(origin, field="origin") if origin else None)
        if existing is None:
            raise
        return existing
    logger.debug(
        "session=%s codeunit=%s company=%s %s", session.id, session.codeunit_id, session.company, session.status
    )
    return session


def try_start_session(codeunit, **kwargs) -> BackgroundSession | None:
    """Like ``start_session``, but return ``None`` when it cannot start (AL's ``if StartSession(...)``)."""
    try:
        return start_session(codeunit, **kwargs)
    except SessionStartError as e:
        logger.info("session not started: %s (%s)", e, e.reason)
        return None


def _find_key(key: str, field: str = "key") -> BackgroundSession | None:
    try:
        return BackgroundSession.objects.filter(**{field: key}).first()
    except DatabaseError as e:
        raise SessionStartError("unavailable", f"The session registry is unavailable: {e}") from e


def _refuse_inside_registry_transaction() -> None:
    """A session row written inside the caller's registry transaction would not be committed at once: refuse."""
    conn = connections[app_settings.REGISTRY_ALIAS]
    # Django's TestCase wraps each test in atomic blocks it marks; those stand for autocommit.
    manual = conn.connection is not None and not conn.in_atomic_block and not conn.get_autocommit()
    if manual or any(not getattr(block, "_from_testcase", False) for block in conn.atomic_blocks):
        raise SessionStartError(
            "unavailable",
            f"Cannot start a session inside a transaction on the registry alias {app_settings.REGISTRY_ALIAS!r}: "
            "its row would wait for your commit. Start it after the block, or with on_commit=True from a "
            "transaction on another alias.",
        )


def _refuse_manual_transactions() -> None:
    """``on_commit=True`` with ``set_autocommit(False)``: there is no commit to wait for, so refuse, as Django does."""
    manual = [
        conn.alias
        for conn in connections.all(initialized_only=True)
        if conn.connection is not None and not conn.in_atomic_block and not conn.get_autocommit()
    ]
    if manual:
        raise TransactionManagementError(
            f"start_session(on_commit=True) cannot be used in manual transaction management "
            f"(set_autocommit(False) on {', '.join(map(repr, manual))}): use transaction.atomic(), "
            "or start the session after your commit."
        )


def _create(session: BackgroundSession, kind: str, message: str = "") -> None:
    try:
        BackgroundSession.objects.add(session, kind, message)
    except DatabaseError as e:
        if isinstance(e, IntegrityError):
            raise
        raise SessionStartError("unavailable", f"The session registry is unavailable: {e}") from e


def _create_and_enqueue(session: BackgroundSession) -> None:
    """Write the row and hand it to the queue, or leave nothing behind."""
    session.queued_at = timezone.now()
    session.task_id = transport.new_task_id()
    try:
        with limits.start_lock(app_settings.REGISTRY_ALIAS):
            limits.check(session.company)
            _create(session, SessionEvent.Kind.QUEUED)  # with the ORM broker, the committed row is the queue entry
    except DatabaseError as e:
        if isinstance(e, IntegrityError):
            raise
        raise SessionStartError("unavailable", f"The session registry is unavailable: {e}") from e
    # The row is committed: a worker that gets the task at once will find it.
    try:
        transport.publish(session)
    except Exception as e:
        BackgroundSession.objects.filter(pk=session.pk).delete()
        raise SessionStartError("unavailable", f"The task queue is unavailable: {e}") from e


def _run_inline(
    p: PreparedStart, *, key: str | None = None, origin: str | None = None, rerun_of: int | None = None
) -> tuple[BackgroundSession, BaseException | None]:
    _refuse_inside_registry_transaction()
    session = p.new_session(mode=Mode.INLINE, status=Status.QUEUED, key=key)
    session.origin, session.rerun_of = origin, rerun_of
    _create(session, SessionEvent.Kind.CREATED, "inline (debug)")
    claimed = runner.claim(session.id)
    if claimed is None:  # pragma: no cover - the row was just written by us
        raise SessionStartError("unavailable", f"Session {session.id} could not be claimed.")
    error = runner.execute_claimed(claimed)
    claimed.refresh_from_db(using=app_settings.REGISTRY_ALIAS)
    return claimed, error


def run_codeunit(codeunit, *, company=None, params=None, user=None, raise_errors: bool = True) -> BackgroundSession:
    """Run ``codeunit`` inline, now, in this thread (Business Central's ``Codeunit.Run``).

    The same runner, transaction and registry row as a background session, so a
    debugger stops in the codeunit. Return the finished session. If the
    codeunit raises, the failure is recorded and the exception re-raised, or,
    with ``raise_errors=False``, the failed session is returned.
    """
    prepared = prepare_start(codeunit, company, params, None, user)
    session, error = _run_inline(prepared)
    if error is not None and raise_errors:
        raise error
    return session


MAX_SESSION_ID = 2**63 - 1  # a BigAutoField


def parse_session_id(value) -> int | None:
    """Return ``value`` as a session id (a positive 64-bit integer, or its digits), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    text = str(value)
    if not text.isdecimal() or len(text) > 19:
        return None
    number = int(text)
    return number if 0 < number <= MAX_SESSION_ID else None


def get_session(session_id) -> BackgroundSession:
    """Return the session with this id; raise ``SessionNotFound``."""
    number = parse_session_id(session_id)
    session = None if number is None else BackgroundSession.objects.filter(pk=number).first()
    if session is None:
        raise SessionNotFound(session_id)
    return session


def is_session_active(session_id) -> bool:
    """Return True while the session is pending, queued or running; False otherwise or if unknown."""
    try:
        return get_session(session_id).is_active
    except SessionNotFound:
        return False


def wait_session(session_id, timeout: float | timedelta | None = None, poll: float = 0.05) -> BackgroundSession:
    """Wait until the session has finished and return it.

    Raise ``SessionWaitTimeout`` if it is still active after ``timeout``
    seconds (``None``: wait for ever), ``SessionNotFound`` if it does not exist.
    """
    if isinstance(timeout, timedelta):
        timeout = timeout.total_seconds()
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = poll
    while True:
        session = get_session(session_id)
        if not session.is_active:
            return session
        if deadline is not None and time.monotonic() >= deadline:
            raise SessionWaitTimeout(session.id, timeout, session.status)
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


@dataclass(frozen=True)
class StopResult:
    """What ``request_stop`` did: ``stopped`` is true when the stop took effect or was asked."""

    stopped: bool
    reason: str
    status: str | None = None

    def __bool__(self) -> bool:
        return self.stopped


def request_stop(session_id, comment: str = "", user=None) -> StopResult:
    """Stop a session and say why it could not be.

    A pending or queued session is cancelled and never runs. A running one is
    asked to stop: its watcher ends the codeunit within about a second, even
    one stuck in a sleep or a query, and its transaction is rolled back.
    """
    try:
        session = get_session(session_id)
    except SessionNotFound as e:
        return StopResult(False, str(e))
    if user is not None and not user.has_perm("sessions_app.stop_session"):
        return StopResult(False, f"User {user.get_username()!r} may not stop sessions.", session.status)
    if user is not None and not can_access(user, session.company):
        return StopResult(False, f"User {user.get_username()!r} may not work in company {session.company!r}.")
    running = running_session()
    if running is not None and running.id == session.id:
        return StopResult(False, f"Session {session.id} cannot stop itself.", session.status)
    if "\x00" in str(comment):
        return StopResult(False, "The comment contains a NUL character, which cannot be stored.", session.status)
    who = user.get_username() if user is not None else ""
    outcome = BackgroundSession.objects.request_stop(session.id, who, str(comment)[:500])
    if outcome is not None:
        logger.info("session=%s %s %s", session.id, "cancelled" if outcome == Status.CANCELLED else "stopping", who)
    if outcome == Status.CANCELLED:
        return StopResult(True, f"Session {session.id} was cancelled before it started.", Status.CANCELLED)
    if outcome == Status.RUNNING:
        return StopResult(True, f"Session {session.id} is stopping.", Status.RUNNING)
    session = get_session(session.id)
    if session.status == Status.RUNNING:
        return StopResult(True, f"Session {session.id} is already stopping.", session.status)
    return StopResult(False, f"Session {session.id} has already finished: {session.status}.", session.status)


def stop_session(session_id, comment: str = "", user=None) -> bool:
    """Stop a session (see ``request_stop``); return False if it is unknown, finished or may not be stopped."""
    return request_stop(session_id, comment=comment, user=user).stopped


def generated_values(session: BackgroundSession) -> set[str]:
    """The parameters of ``session`` a default factory made; for a session from before they were recorded,
    every one whose field has a default factory."""
    if session.generated is not None:
        return set(session.generated)
    try:
        fields = registry.get(session.codeunit_id).params.fields
    except UnknownCodeunit:
        return set()
    return {name for name, field in fields.items() if callable(field.default)}


def rerun_session(session_id, *, user=None, params=None, debug: bool = False) -> BackgroundSession:
    """Start the codeunit of session ``session_id`` again, in its company, with its parameters.

    ``params`` replaces the parameters; ``debug=True`` runs it inline. A user
    needs the re-run permission besides the start permission. Raise
    ``SessionNotFound`` or ``SessionStartError``.
    """
    original = get_session(session_id)
    if user is not None and not user.has_perm("sessions_app.rerun_session"):
        raise SessionStartError("permission_denied", f"User {user.get_username()!r} may not re-run sessions.")
    if user is not None and not can_access(user, original.company):
        raise SessionStartError(
            "permission_denied", f"User {user.get_username()!r} may not work in company {original.company!r}."
        )
    values = params
    if values is None:
        # Every value the original was given; those a default factory made (a new GUID) are made anew.
        values = {name: value for name, value in original.params.items() if name not in generated_values(original)}
    return start_session(
        original.codeunit_id,
        company=original.company,
        params=values,
        timeout=original.timeout,
        user=user,
        debug=debug,
        rerun_of=original.id,
    )


# Groups: sessions started together, and one completion when the last has ended (``groups.py``).


def start_group(
    codeunit=None,
    *,
    params=None,
    members=None,
    company=None,
    then=None,
    then_params=None,
    then_company=None,
    name: str = "",
    policy: str = GroupPolicy.ALL_SUCCEEDED,
    timeout=None,
    user=None,
) -> SessionGroup:
    """Start a group of sessions; when the last has ended, start ``then`` once; return the group.

    The members are ``codeunit`` once for each parameter record in ``params``
    (a list), or ``members``: a list of ``{"codeunit": ..., "params": ...,
    "company": ...}`` (mixed codeunits; company defaults to ``company``).
    ``then`` runs in ``then_company`` (default: ``company``) with
    ``then_params``; it reads its members' outcomes from
    ``session.group.outcomes()``. ``policy``: ``all_succeeded`` (default: the
    completion runs only if every member succeeded), ``always``, or
    ``fail_fast`` (the first failure stops the others; no completion).

    Every member and the completion are checked as ``start_session`` checks
    one, and ``SessionStartError`` names the first refused (``members[3]: ...``),
    with nothing written.
    """
    if (codeunit is None) == (members is None):
        raise SessionStartError("invalid_params", "Give either a codeunit with a list of params, or members.")
    if members is None:
        if not isinstance(params, (list, tuple)) or not params:
            raise SessionStartError("invalid_params", "params must be a non-empty list, one parameter record each.")
        members = [{"codeunit": codeunit, "params": p} for p in params]
    if not isinstance(members, (list, tuple)) or not 0 < len(members) <= groups.MAX_MEMBERS:
        raise SessionStartError("invalid_params", f"A group has 1 to {groups.MAX_MEMBERS} members.")
    if policy not in GroupPolicy.values:
        message = f"Policy {policy!r} is none of {', '.join(GroupPolicy.values)}."
        raise SessionStartError("invalid_params", message, {"policy": [message]})
    prepared = []
    for i, member in enumerate(members):
        if not isinstance(member, dict) or "codeunit" not in member:
            raise SessionStartError("invalid_params", f"members[{i}] must be a dict with a codeunit.")
        try:
            prepared.append(
                prepare_start(member["codeunit"], member.get("company", company), member.get("params"), timeout, user)
            )
        except SessionStartError as e:
            raise SessionStartError(e.reason, f"members[{i}]: {e}", errors=e.errors) from e
    completion = None
    if then is not None:
        try:
            completion = prepare_start(then, then_company or company or prepared[0].company, then_params, timeout, user)
        except SessionStartError as e:
            raise SessionStartError(e.reason, f"then: {e}", errors=e.errors) from e
    _refuse_inside_registry_transaction()
    return groups.start(prepared, then=completion, name=name, policy=policy, user=prepared[0].user)


def get_group(group_id) -> SessionGroup:
    """Return the group with this id; raise ``GroupNotFound``."""
    number = parse_session_id(group_id)
    group = None if number is None else SessionGroup.objects.filter(pk=number).first()
    if group is None:
        raise GroupNotFound(group_id)
    return group


def wait_group(group_id, timeout: float | timedelta | None = None, poll: float = 0.05) -> SessionGroup:
    """Wait until the group is decided and its completion, if it has one, has finished; return the group.

    Raise ``GroupWaitTimeout`` after ``timeout`` seconds, ``GroupNotFound`` if it does not exist.
    """
    if isinstance(timeout, timedelta):
        timeout = timeout.total_seconds()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        group = get_group(group_id)
        if group.is_decided and (group.completion_id is None or not is_session_active(group.completion_id)):
            return group
        if deadline is not None and time.monotonic() >= deadline:
            raise GroupWaitTimeout(group.id, timeout, group.status)
        time.sleep(poll)
        poll = min(poll * 1.5, 0.5)


def stop_group(group_id, user=None) -> bool:
    """Stop a group: its members still queued or running are stopped, and no completion runs.

    False if it is unknown, decided already, or ``user`` may not stop it
    (the stop permission, and every company of its members).
    """
    try:
        group = get_group(group_id)
    except GroupNotFound:
        return False
    if user is not None:
        companies = set(BackgroundSession.objects.filter(group_id=group.id).values_list("company", flat=True))
        if not user.has_perm("sessions_app.stop_session") or not all(can_access(user, c) for c in companies):
            return False
    return groups.stop(group.id, user.get_username() if user is not None else "")
