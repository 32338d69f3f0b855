"""What this project takes from django-q2 beyond its documented API, pinned down.

``sessions_app/queue.py`` and ``sessions_app/brokers.py`` are the only modules
that use these names. Each test states one thing they rely on, so an upgrade of
django-q2 that changes it fails here, by name, before it fails in production.
"""

import signal

import pytest
from django.utils import timezone

from sessions_app import queue
from tests.conftest import queued_tasks

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]


class _Session:
    def __init__(self, session_id=7, task_id="0" * 32):
        self.id, self.task_id = session_id, task_id
        self.timeout = timezone.timedelta(seconds=60)


def test_signed_package_round_trips_our_task_and_refuses_a_tampered_one():
    from django_q.signing import BadSignature, SignedPackage

    payload = queue.build_package(_Session())
    task = SignedPackage.loads(payload)
    assert task["func"] == "sessions_app.runner.execute" and task["args"] == (7,) and task["timeout"] == -1
    with pytest.raises(BadSignature):
        SignedPackage.loads(payload[:-3] + "xyz")


def test_humanhash_uuid_gives_a_name_and_32_hex_digits():
    from django_q.humanhash import uuid

    name, hexdigits = uuid()
    assert isinstance(name, str) and len(hexdigits) == 32 and int(hexdigits, 16) >= 0
    assert len(queue.new_task_id()) == 32


def test_get_func_repr_names_a_function_by_its_dotted_path():
    from django_q.utils import get_func_repr

    from sessions_app.runner import execute

    assert get_func_repr(execute) == "sessions_app.runner.execute"


def test_a_timeout_of_minus_one_sets_no_alarm_in_the_worker():
    from django_q.timeout import TimeoutHandler

    before = signal.getsignal(signal.SIGALRM)
    with TimeoutHandler(-1):
        assert signal.getsignal(signal.SIGALRM) == before  # django-q2 would install its raising handler


def test_the_broker_has_a_list_key_and_hands_out_what_push_put_in():
    b = queue.broker()
    assert isinstance(b.list_key, str) and b.list_key
    queue.push(queue.build_package(_Session(session_id=11)))
    assert queued_tasks() == 1
    fetched = []
    for _ in range(20):  # the Redis broker waits at most a second per call
        fetched = b.dequeue() or []
        if fetched:
            break
    [(ack_id, payload)] = fetched
    from django_q.signing import SignedPackage

    assert SignedPackage.loads(payload)["args"] == (11,)
    if queue.uses_orm_broker():
        from django_q.models import OrmQ

        # Taken rows stay, locked until django-q2's retry, until the monitor acknowledges them.
        row = OrmQ.objects.using("registry").get(pk=ack_id)
        assert row.lock > timezone.now() and row.key == b.list_key
        b.acknowledge(ack_id)
        assert not OrmQ.objects.using("registry").exists()


def test_the_signals_we_connect_to_exist():
    from django_q.signals import post_spawn, pre_enqueue

    assert post_spawn.receivers and pre_enqueue is not None  # post_spawn: the maintenance and dispatcher threads
