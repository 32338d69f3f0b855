"""An idle cluster looks slowly and asks little; work brings the brisk pace back at once."""

import pytest
from django.db import connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from sessions_app import transport
from sessions_app.api import start_session
from sessions_app.conf import app_settings
from sessions_app.pace import Pace
from tests.conftest import push, wait_until

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]

quiet_at_once = override_settings(SESSIONS_IDLE_AFTER=0, SESSIONS_IDLE_POLL=0.01)


@override_settings(SESSIONS_IDLE_AFTER=0.2)
def test_a_pace_is_brisk_until_nothing_came_for_idle_after_seconds():
    pace = Pace()
    assert not pace.quiet() and pace.wait(0.1, 5) == 0.1
    wait_until(pace.quiet, 5, 0.01, message="quiet")
    assert pace.wait(0.1, 5) == 5 and pace.wait(0.1, 0.01) == 0.1  # never quicker than the busy pace
    pace.worked()
    assert not pace.quiet() and pace.wait(0.1, 5) == 0.1


def _orm_broker():
    if not transport.uses_orm_broker():
        pytest.skip("the ORM broker's idle poll (Redis blocks on its list instead)")
    from sessions_app.brokers import GuardedORM

    return GuardedORM(list_key=transport.broker().list_key)


def _reads(captured) -> list[str]:
    """The statements aside from the cluster's beat (and the transaction of its first one)."""
    return [q["sql"] for q in captured if "clusterbeat" not in q["sql"] and q["sql"] not in ("BEGIN", "COMMIT")]


@quiet_at_once
def test_an_idle_orm_broker_asks_one_question_for_sessions_and_plain_tasks():
    broker = _orm_broker()
    with CaptureQueriesContext(connections[app_settings.REGISTRY_ALIAS]) as captured:
        assert not broker.dequeue()
    (read,) = _reads(captured)
    assert "sessions_app_backgroundsession" in read and "django_q_ormq" in read and "UNION ALL" in read


@quiet_at_once
@pytest.mark.parametrize("what", ["session", "plain task"])
def test_an_idle_orm_broker_hands_out_what_comes_in_its_next_look(what):
    from django_q.signing import SignedPackage

    broker = _orm_broker()
    assert not broker.dequeue()
    if what == "session":
        expected = (start_session("No-op", company="CRONUS").id,)
    else:
        push(transport.package(999_999, "0" * 32))
        expected = (999_999,)
    handed = broker.dequeue()
    assert [SignedPackage.loads(p)["args"] for _, p in handed] == [expected]
    assert transport.waiting() == 0
