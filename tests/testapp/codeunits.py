"""Codeunits the tests run, in a real worker and inline."""

import datetime
import time
import uuid

from django.utils import timezone

from demo.models import Customer, SessionLog
from sessions_app.codeunits import codeunit
from sessions_app.exceptions import RetriableError
from sessions_app.records import Boolean, Code, Date, Decimal, Guid, Integer, ParameterRecord, Text


class RowParameters(ParameterRecord):
    log_id = Guid(default=uuid.uuid4)
    result = Text(100, default="")


def _log(rec, session, result=None):
    now = timezone.now()
    return SessionLog.objects.create(
        id=rec.log_id,
        session_id=session.id,
        result=result if result is not None else rec.result,
        start_time=now,
        stop_time=now,
        elapsed=now - now,
    )


@codeunit(90001, "Insert Row", params=RowParameters)
def insert_row(rec, session):
    """Insert one SessionLog row in the session's company."""
    _log(rec, session)
    return {"company": session.company, "log_id": str(rec.log_id)}


@codeunit(90002, "Write Then Fail", params=RowParameters)
def write_then_fail(rec, session):
    """Write a customer and a log row, then raise: both must roll back."""
    Customer.objects.create(no="FAIL-" + str(rec.log_id)[:8].upper(), name="must roll back")
    _log(rec, session)
    raise ValueError(f"planned failure after writing {rec.log_id}")


@codeunit(90003, "Read Log", params=RowParameters)
def read_log(rec, session):
    """The seed's Log.Get(): read a row the caller wrote."""
    return SessionLog.objects.get(id=rec.log_id).result


@codeunit(90004, "Which Company", params=RowParameters)
def which_company(rec, session):
    """Record the company the session runs in, in that company's own database."""
    _log(rec, session, result=session.company)
    return session.company


@codeunit(90005, "Bad Result")
def bad_result(rec, session):
    SessionLog.objects.create(
        session_id=session.id,
        result="bad",
        start_time=timezone.now(),
        stop_time=timezone.now(),
        elapsed=datetime.timedelta(0),
    )
    return object()


class SleepParameters(ParameterRecord):
    seconds = Decimal(max_digits=8, decimal_places=3, default=1)


@codeunit(90006, "Sleep", params=SleepParameters)
def sleep(rec, session):
    time.sleep(float(rec.seconds))
    return float(rec.seconds)


@codeunit(90007, "No-op")
def noop(rec, session):
    return None


class EveryTypeParameters(ParameterRecord):
    code = Code(10)
    text = Text(30, default="")
    count = Integer(min_value=0, max_value=1000, default=0)
    amount = Decimal(max_digits=10, decimal_places=2, default=0)
    due = Date(required=False)
    flag = Boolean()
    ref = Guid(required=False)


@codeunit(90008, "Every Type", params=EveryTypeParameters)
def every_type(rec, session):
    return rec.to_json()


@codeunit(90009, "Progress And Log")
def progress_and_log(rec, session):
    for i in range(3):
        session.log(f"line {i}")
    session.progress(10, 10, "done")
    return "ok"


class HoldParameters(ParameterRecord):
    log_id = Guid(default=uuid.uuid4)
    seconds = Integer(min_value=0, max_value=3600, default=600)


@codeunit(90010, "Write And Sleep", params=HoldParameters)
def write_and_sleep(rec, session):
    """Write a row, then block in time.sleep without ever calling check_stop()."""
    _log(rec, session, result="uncommitted")
    session.log("written; sleeping")
    time.sleep(rec.seconds)
    return "woke up"


@codeunit(90011, "Long Query", params=HoldParameters)
def long_query(rec, session):
    """Write a row, then run one query that takes far longer than any test."""
    from django.db import connections

    _log(rec, session, result="uncommitted")
    conn = connections[session.alias]
    session.log("written; querying")
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            cursor.execute("SELECT pg_sleep(%s)", [rec.seconds])
        else:
            cursor.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
    return "query finished"


@codeunit(90012, "Cooperative Loop", params=HoldParameters)
def cooperative_loop(rec, session):
    """Write a row, then loop calling check_stop(), as a well-behaved long codeunit does."""
    _log(rec, session, result="uncommitted")
    deadline = time.monotonic() + rec.seconds
    i = 0
    while time.monotonic() < deadline:
        i += 1
        session.check_stop()
        session.progress(i, None, "looping")
        time.sleep(0.01)
    return i


@codeunit(90013, "Stop Myself")
def stop_myself(rec, session):
    from sessions_app.api import request_stop

    result = request_stop(session.id, comment="by myself")
    return {"stopped": result.stopped, "reason": result.reason}


@codeunit(90014, "Rerun When Lost", params=HoldParameters, rerun_lost=True)
def rerun_when_lost(rec, session):
    """Hang on the first run (to be killed); finish when run again after a loss."""
    if session.rerun_of is None:
        _log(rec, session, result="first attempt, uncommitted")
        session.log("written; hanging")
        time.sleep(rec.seconds)
        return "first attempt finished"
    _log(rec, session, result=f"re-run of {session.rerun_of}")
    return "re-run finished"


class LoopParameters(ParameterRecord):
    steps = Integer(min_value=1, max_value=1_000_000, default=100)
    pause = Decimal(max_digits=6, decimal_places=3, default=0)


@codeunit(90015, "Busy Loop", params=LoopParameters)
def busy_loop(rec, session):
    """Report progress and log a line on every step: the registry must not see every call."""
    for i in range(1, rec.steps + 1):
        session.progress(i, rec.steps, f"step {i}")
        session.log(f"step {i}")
        if rec.pause:
            time.sleep(float(rec.pause))
    return rec.steps


@codeunit(90020, "Always Retriable", params=RowParameters)
def always_retriable(rec, session):
    """Write a customer, then fail with an error worth retrying: the write must roll back each time."""
    Customer.objects.create(no="RETRY-" + str(session.id), name="must roll back")
    raise RetriableError(f"not yet ({rec.log_id})")


@codeunit(90021, "Record Failure", params=RowParameters)
def record_failure(rec, session):
    """A failure codeunit: record the failed task's parameters and error in its company."""
    task = session.failed_task
    _log(rec, session, result=f"{task.error_type}: {task.error_message}"[:100])
    return {
        "task": task.id,
        "codeunit": task.codeunit_id,
        "params": task.params,
        "error_message": task.error_message,
        "error_type": task.error_type,
        "traceback": bool(task.error_traceback),
    }


@codeunit(90022, "Who Am I")
def who_am_i(rec, session):
    """Return the user the session runs as."""
    return session.user.get_username() if session.user is not None else None


# The session log never lies: codeunits that end in every awkward way.


@codeunit(90030, "Commit Then Die", params=RowParameters, rerun_lost=True)
def commit_then_die(rec, session):
    """Write a row, then kill the worker right after the company commit, before the registry's finish record."""
    import os
    import signal

    from django.db import transaction

    _log(rec, session, result="committed, then the worker died")
    transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL), using=session.alias)
    return {"log_id": str(rec.log_id)}


class ResultParameters(ParameterRecord):
    log_id = Guid(default=uuid.uuid4)
    kind = Text(20)


@codeunit(90031, "Awkward Result", params=ResultParameters)
def awkward_result(rec, session):
    """Write a row, then return a result no registry can hold (or a 1 MB log line, or a dirty error)."""
    _log(rec, session, result=rec.kind)
    if rec.kind == "nan":
        return {"ratio": float("nan")}
    if rec.kind == "infinity":
        return [float("inf")]
    if rec.kind == "nul":
        return {"text": "before\x00after"}
    if rec.kind == "huge":
        return "x" * (2 * 1024 * 1024)
    if rec.kind == "log":
        session.log("L" * (1024 * 1024))
        return "logged"
    if rec.kind == "dirty-error":
        raise ValueError("NUL \x00 and a lone surrogate \udcff in the message")
    if rec.kind == "5mb-error":
        raise ValueError("E" * (5 * 1024 * 1024))
    return "clean"


class LoopKindParameters(ParameterRecord):
    kind = Text(20, default="savepointless")


@codeunit(90032, "Atomic Loop", params=LoopKindParameters)
def atomic_loop(rec, session):
    """Write rows for ever inside Django's own atomic bookkeeping, never calling check_stop()."""
    from django.db import transaction

    i = 0
    session.log("looping")
    while True:
        i += 1
        no = f"L{session.id}-{i}"[:20]
        if rec.kind == "savepointless":
            with transaction.atomic(savepoint=False):
                Customer.objects.create(no=no, name=f"session {session.id}")
                Customer.objects.filter(no=no).update(address="updated")
        elif rec.kind == "bulk_create":
            Customer.objects.bulk_create(
                [Customer(no=f"{no}-{j}"[:20], name=f"session {session.id}") for j in range(20)]
            )
        elif rec.kind == "update_or_create":
            Customer.objects.update_or_create(no=no, defaults={"name": f"session {session.id}"})
        elif rec.kind == "stubborn":
            # Swallows every error, the cancelled query's included: only ending the worker stops it.
            try:
                Customer.objects.create(no=no, name=f"session {session.id}")
                time.sleep(0.01)
            except Exception:  # noqa: S110
                pass


# Work runs once: workers that die, and sessions that wait for their company.


def _die(session):
    """End this worker process as an out-of-memory kill would (never the test's own process)."""
    import os
    import signal

    if session.mode != "background":
        raise RuntimeError("this codeunit kills its worker: run it in the background only")
    os.kill(os.getpid(), signal.SIGKILL)


@codeunit(90040, "Die Every Time", params=RowParameters, rerun_lost=True)
def die_every_time(rec, session):
    """A poison codeunit: write a row, then its worker dies, every time it runs."""
    _log(rec, session, result=f"session {session.id}: never committed")
    _die(session)


class MarkerParameters(ParameterRecord):
    marker = Text(200)
    """A file: absent, the worker dies (and the file is made); present, the row is committed."""


@codeunit(90041, "Die Once", params=MarkerParameters, rerun_lost=True)
def die_once(rec, session):
    """Its worker dies the first time it runs; any later run commits one row saying which marker it ran for."""
    from pathlib import Path

    marker = Path(rec.marker)
    if not marker.exists():
        marker.write_text(str(session.id))
        _die(session)
    now = timezone.now()
    SessionLog.objects.create(
        session_id=session.id, result=marker.name, start_time=now, stop_time=now, elapsed=now - now
    )
    return marker.name


class TurnParameters(ParameterRecord):
    seconds = Decimal(max_digits=6, decimal_places=3, default=1)
    label = Text(100, default="")


@codeunit(90042, "Hold The Company", params=TurnParameters)
def hold_the_company(rec, session):
    """Write first (on SQLite: take the company's write lock), then hold it for ``seconds``; the row says when."""
    began = timezone.now()
    log = SessionLog.objects.create(
        session_id=session.id, result=rec.label, start_time=began, stop_time=began, elapsed=began - began
    )
    time.sleep(float(rec.seconds))
    log.stop_time = timezone.now()
    log.elapsed = log.stop_time - began
    log.save()
    return rec.label


# Groups: a completion that proves it ran once, and members that end in every way.


@codeunit(90050, "Group Completion")
def group_completion(rec, session):
    """A group's completion: one committed row per run (it must run once), and what it saw of the members."""
    group = session.group
    outcomes = group.outcomes()
    now = timezone.now()
    SessionLog.objects.create(
        session_id=session.id, result=f"group {group.id}", start_time=now, stop_time=now, elapsed=now - now
    )
    return {"group": group.id, "members": len(outcomes), "statuses": sorted(o["status"] for o in outcomes)}


class MemberParameters(ParameterRecord):
    outcome = Text(20, default="succeed")
    """succeed, fail, die (its worker is killed before its commit) or commit_die (right after it)."""
    seconds = Decimal(max_digits=6, decimal_places=3, default=0)


@codeunit(90051, "Group Member", params=MemberParameters)
def group_member(rec, session):
    """A member that ends as it is told."""
    if rec.seconds:
        deadline = time.monotonic() + float(rec.seconds)
        while time.monotonic() < deadline:
            session.check_stop()
            time.sleep(0.01)
    if rec.outcome == "fail":
        raise ValueError(f"member {session.id} failed as told")
    if rec.outcome == "die":
        _die(session)
    if rec.outcome == "commit_die":
        from django.db import transaction

        transaction.on_commit(lambda: _die(session), using=session.alias)
    return {"member": session.id}
