"""The registry's state changes on their fast path: plain statements that must store and read back exactly
what the ORM would, take each queued session once, and change nothing when the row is not in the
expected state. Run on SQLite and on PostgreSQL (the suite's two set-ups), which take different paths."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from sessions_app import statements, transport
from sessions_app.api import request_stop, start_session
from sessions_app.conf import app_settings
from sessions_app.models import BackgroundSession, SessionEvent, Status
from tests.conftest import push

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]

sessions = BackgroundSession.objects


def kinds(session_id: int) -> list[str]:
    return list(SessionEvent.objects.filter(session_id=session_id).order_by("id").values_list("kind", flat=True))


def test_a_start_stores_the_row_and_its_first_event_as_the_orm_reads_them():
    s = start_session("Insert Row", company="CRONUS UK", params={"log_id": str(uuid.uuid4())}, timeout=90)
    row = sessions.get(pk=s.id)
    assert row.uuid == s.uuid and row.params == s.params and row.timeout == timedelta(seconds=90)
    assert abs(row.created_at - s.created_at) < timedelta(milliseconds=1) and row.task_id == s.task_id
    assert kinds(s.id) == ["queued"]


def test_a_claim_returns_the_row_as_the_orm_reads_it_and_records_one_start():
    s = start_session("Insert Row", company="CRONUS", params={"log_id": str(uuid.uuid4())}, timeout=90)
    claimed = sessions.claim(s.id, "host:1")
    fresh = sessions.get(pk=s.id)
    for field in BackgroundSession._meta.concrete_fields:
        assert getattr(claimed, field.attname) == getattr(fresh, field.attname), field.name
    assert (claimed.status, claimed.worker, claimed._state.db) == ("running", "host:1", app_settings.REGISTRY_ALIAS)
    assert sessions.claim(s.id, "host:2") is None  # a second delivery changes nothing
    assert sessions.get(pk=s.id).worker == "host:1" and kinds(s.id) == ["queued", "started"]


def test_a_finish_stores_result_and_error_and_only_from_the_expected_status():
    s = start_session("No-op", company="CRONUS")
    assert not sessions.finish(s.id, Status.SUCCEEDED, result={"a": [1, "é"]})  # still queued: nothing
    assert sessions.get(pk=s.id).status == "queued" and kinds(s.id) == ["queued"]
    sessions.claim(s.id, "host:1")
    done_at = timezone.now()
    assert sessions.finish(s.id, Status.FAILED, message="boom", error="ValueError: boom", finished_at=done_at)
    row = sessions.get(pk=s.id)
    assert (row.status, row.error, row.finished_at, row.result) == ("failed", "ValueError: boom", done_at, None)
    assert not sessions.finish(s.id, Status.SUCCEEDED)  # finished once
    assert kinds(s.id) == ["queued", "started", "failed"]
    assert SessionEvent.objects.get(session_id=s.id, kind="failed").message == "boom"
    t = start_session("No-op", company="CRONUS")
    sessions.claim(t.id, "host:1")
    assert sessions.finish(t.id, Status.SUCCEEDED, result={"a": [1, "é"], "n": None})
    assert sessions.get(pk=t.id).result == {"a": [1, "é"], "n": None}


def test_the_chained_and_the_plain_statements_agree():
    """PostgreSQL's one-statement path and the plain one store the same row and event."""
    alias = app_settings.REGISTRY_ALIAS
    a, b = (start_session("No-op", company="CRONUS") for _ in range(2))
    now = timezone.now()
    values = dict(status=Status.RUNNING, started_at=now, heartbeat_at=now, worker="w")
    assert statements.update(alias, BackgroundSession, {"id": a.id, "status": Status.QUEUED}, **values) == 1
    if statements.can_chain(alias):
        event = {"at": now, "kind": "started", "message": "on w"}
        where = {"id": b.id, "status": Status.QUEUED}
        assert statements.update_and_insert(alias, BackgroundSession, where, values, SessionEvent, "session", event)
        assert (
            statements.update_and_insert(alias, BackgroundSession, where, values, SessionEvent, "session", event)
            is None
        )
        assert kinds(b.id) == ["queued", "started"]
    else:
        statements.update(alias, BackgroundSession, {"id": b.id}, **values)
    ra, rb = sessions.get(pk=a.id), sessions.get(pk=b.id)
    assert (ra.status, ra.started_at, ra.worker) == (rb.status, rb.started_at, rb.worker) == ("running", now, "w")


def test_each_queued_session_is_taken_once_and_only_while_it_waits():
    if not transport.uses_orm_broker():
        pytest.skip("the registry is the queue only with the ORM broker")
    started = [start_session("No-op", company="CRONUS") for _ in range(5)]
    cancelled = start_session("No-op", company="CRONUS")
    request_stop(cancelled.id)
    # An inline (debug) session is queued for the instant before its own thread claims it.
    inline = sessions.create(codeunit_id=90007, codeunit_name="No-op", company="CRONUS", mode="inline")
    first = sessions.take(3, "cluster-a")
    second = sessions.take(10, "cluster-b")
    assert [i for i, _ in first] == [s.id for s in started[:3]]
    assert [i for i, _ in second] == [s.id for s in started[3:]]  # never the cancelled one, never one taken
    assert sessions.take(10, "cluster-c") == [] and sessions.get(pk=inline.id).fetched_by == ""
    assert dict(first)[started[0].id] == started[0].task_id
    rows = dict(sessions.filter(pk__in=[s.id for s in started]).values_list("id", "fetched_by"))
    assert rows == {s.id: "cluster-a" if i < 3 else "cluster-b" for i, s in enumerate(started)}


def test_the_orm_broker_hands_out_sessions_and_plain_tasks_in_one_round():
    if not transport.uses_orm_broker():
        pytest.skip("the registry is the queue only with the ORM broker")
    from django_q.signing import SignedPackage

    s = start_session("No-op", company="CRONUS")
    push(transport.package(999_999, "0" * 32))  # a plain queue row beside it
    handed = transport.broker().dequeue()
    assert [SignedPackage.loads(p)["args"] for _, p in handed] == [(s.id,), (999_999,)]
    assert handed[0][0] is None and handed[1][0] is not None  # a session needs no acknowledgement
    assert transport.waiting() == 0
