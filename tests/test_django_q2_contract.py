"""What the transport takes from django-q2, pinned down: every name it imports, and what it relies on.

``sessions_app/transport/`` is the only package that imports ``django_q``
(``tests/test_layers.py`` checks it). Each test here states one thing it relies
on, so an upgrade of django-q2 that changes it fails here, by name, before it
fails in production.
"""

import ast
import signal
from pathlib import Path

import pytest
from django.utils import timezone

from sessions_app import transport
from tests.conftest import push, queued_tasks

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]

TRANSPORT = Path(transport.__file__).parent

# Every django-q2 name the transport imports, module by module: a new one must be added here, with a test.
PINNED = {
    "django_q.admin": set(),
    "django_q.brokers": {"get_broker", "Broker"},
    "django_q.brokers.orm": {"ORM"},
    "django_q.brokers.redis_broker": {"Redis"},
    "django_q.conf": {"Conf"},
    "django_q.humanhash": {"uuid"},
    "django_q.models": {"OrmQ", "Failure", "Schedule", "Success"},
    "django_q.signals": {"pre_enqueue", "post_spawn"},
    "django_q.signing": {"SignedPackage"},
    "django_q.utils": {"get_func_repr"},
}


def imported_names() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in TRANSPORT.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("django_q"):
                found.setdefault(node.module, set()).update(alias.name for alias in node.names)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("django_q"):
                        found.setdefault(alias.name, set())
    return found


def test_the_transport_imports_only_the_pinned_names_of_django_q2():
    assert imported_names() == PINNED


class _Session:
    def __init__(self, session_id=7, task_id="0" * 32):
        self.id, self.task_id = session_id, task_id


def test_our_package_is_the_one_async_task_would_build_with_the_sessions_options():
    """async_task is not called (it closes a caller's connections, and names its own task id): its dict is copied."""
    from django_q.signing import SignedPackage
    from django_q.tasks import async_task

    class Capture:
        list_key = "capture"

        def enqueue(self, payload):
            self.payload = payload

    capture = Capture()
    async_task(transport.TASK_FUNC, 7, task_name="session-7", timeout=-1, ack_failure=True, save=False, broker=capture)
    theirs = SignedPackage.loads(capture.payload)
    ours = SignedPackage.loads(transport.package(7, "0" * 32))
    assert set(ours) <= set(theirs), set(ours) - set(theirs)
    same = ("name", "func", "args", "kwargs", "timeout", "ack_failure", "save")
    assert {k: ours[k] for k in same} == {k: theirs[k] for k in same}
    assert ours["id"] == "0" * 32 and isinstance(ours["started"], type(theirs["started"]))


def test_signed_package_refuses_a_tampered_one():
    from django_q.signing import BadSignature, SignedPackage

    payload = transport.package(7, "0" * 32)
    assert SignedPackage.loads(payload)["args"] == (7,)
    with pytest.raises(BadSignature):
        SignedPackage.loads(payload[:-3] + "xyz")


def test_humanhash_uuid_gives_a_name_and_32_hex_digits():
    from django_q.humanhash import uuid

    name, hexdigits = uuid()
    assert isinstance(name, str) and len(hexdigits) == 32 and int(hexdigits, 16) >= 0
    assert len(transport.new_task_id()) == 32


def test_get_func_repr_names_a_function_by_its_dotted_path():
    from django_q.utils import get_func_repr

    from sessions_app.runner import execute

    assert get_func_repr(execute) == transport.TASK_FUNC


def test_a_timeout_of_minus_one_sets_no_alarm_in_the_worker():
    from django_q.timeout import TimeoutHandler

    before = signal.getsignal(signal.SIGALRM)
    with TimeoutHandler(-1):
        assert signal.getsignal(signal.SIGALRM) == before  # django-q2 would install its raising handler


def test_the_broker_a_q_cluster_selects_is_the_one_get_broker_makes():
    """The system checks ask ``broker_class`` about settings they are given; django-q2 answers for those in force."""
    from django.conf import settings
    from django_q.brokers import get_broker

    assert transport.broker_class(settings.Q_CLUSTER) is type(get_broker())
    assert transport.broker_class({"orm": "registry"}).__name__ == "ORM"
    assert transport.broker_class({"redis": "redis://x"}).__name__ == "Redis"
    assert transport.broker_class({"sqs": {}}) is None


def test_the_broker_has_a_list_key_and_hands_out_what_push_put_in():
    b = transport.broker()
    assert isinstance(b.list_key, str) and b.list_key
    push(transport.package(11, "0" * 32))
    assert queued_tasks() == 1
    fetched = []
    for _ in range(20):  # the Redis broker waits at most a second per call
        fetched = b.dequeue() or []
        if fetched:
            break
    [(ack_id, payload)] = fetched
    from django_q.signing import SignedPackage

    assert SignedPackage.loads(payload)["args"] == (11,)
    if transport.uses_orm_broker():
        from django_q.models import OrmQ

        # Taken rows stay, locked until django-q2's retry, until the monitor acknowledges them.
        row = OrmQ.objects.using("registry").get(pk=ack_id)
        assert row.lock > timezone.now() and row.key == b.list_key
        b.acknowledge(ack_id)
        assert not OrmQ.objects.using("registry").exists()


def test_the_signals_we_connect_to_exist_and_the_admin_pages_we_hide_are_gone():
    from django.contrib import admin
    from django_q.models import Failure, OrmQ, Schedule, Success
    from django_q.signals import post_spawn, pre_enqueue

    assert post_spawn.receivers and pre_enqueue is not None  # post_spawn: the maintenance and dispatcher threads
    assert not any(admin.site.is_registered(model) for model in (Failure, OrmQ, Schedule, Success))


def test_the_redis_broker_takes_what_waits_in_one_batch_and_notes_it_once():
    """One blocking pop, then the rest of the batch at once (LPOP with a count): one note of who took them."""
    from django.test.utils import CaptureQueriesContext
    from django_q.conf import Conf

    if transport.uses_orm_broker():
        pytest.skip("the ORM broker takes session rows in batches already")
    from django.db import connections

    from sessions_app.api import start_session
    from sessions_app.models import BackgroundSession

    sessions = [start_session("No-op", company="CRONUS") for _ in range(5)]
    with CaptureQueriesContext(connections["registry"]) as queries:
        taken = transport.broker().dequeue()
    assert len(taken) == min(5, Conf.BULK)
    notes = [q for q in queries.captured_queries if "fetched_by" in q["sql"] and q["sql"].startswith("UPDATE")]
    assert len(notes) == 1
    assert set(BackgroundSession.objects.exclude(fetched_by="").values_list("id", flat=True)) == {
        s.id for s in sessions[: len(taken)]
    }


def test_a_worker_announces_itself_from_the_function_that_reads_the_task_queue():
    """``transport.note_task_queue`` finds the queue in the frame of ``django_q.worker.worker``, which sends
    ``post_spawn``, and ``unstall`` reads its size and its read lock."""
    import inspect

    from django_q import worker
    from django_q.queues import Queue

    source = inspect.getsource(worker.worker)
    assert "task_queue" in inspect.signature(worker.worker).parameters
    assert source.index("post_spawn.send") < source.index("task_queue.get")
    queue = Queue(maxsize=2)
    queue.put("x")
    assert queue.qsize() == 1 and queue._rlock._semlock._get_value() == 1
