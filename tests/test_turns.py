"""A company's line on SQLite: writers begin in the order they came, as late as need be; the dead never block."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.db import OperationalError, connections

from sessions_app import turns
from sessions_app.transactions import atomic_in_turn, write_atomic
from tests.conftest import wait_until

pytestmark = pytest.mark.skipif(not turns.available(), reason="no open file description locks on this platform")


def tickets_given(path) -> int:
    with open(path, "rb") as f:
        return int.from_bytes(f.read(8), "little")


def test_waiters_take_their_turn_in_the_order_they_came(tmp_path):
    line = str(tmp_path / "line")
    order, release = [], threading.Event()

    def holder():
        with turns.place_in_line(line):
            order.append("holder")
            release.wait(10)

    def waiter(name):
        with turns.place_in_line(line):
            order.append(name)
            time.sleep(0.01)  # long enough for a later waiter to overtake it, if the line let it

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    wait_until(lambda: order == ["holder"], timeout=5)
    for i in range(6):
        thread = threading.Thread(target=waiter, args=(f"w{i}",))
        thread.start()
        threads.append(thread)
        wait_until(lambda i=i: tickets_given(line) == i + 2, timeout=5, message=f"w{i} in the line")
    release.set()
    for thread in threads:
        thread.join(10)
    assert order == ["holder", *(f"w{i}" for i in range(6))]


def test_a_waiter_that_gives_up_leaves_the_line_and_the_next_one_goes_on(tmp_path):
    line = str(tmp_path / "line")
    gave_up = []

    class Stopped(Exception):
        pass

    def give_up():
        gave_up.append(True)
        raise Stopped

    with turns.place_in_line(line):
        with pytest.raises(Stopped):
            with turns.place_in_line(line, give_up=give_up):
                pass  # pragma: no cover - never reached: the holder keeps its place
    assert gave_up
    with turns.place_in_line(line) as ticket:
        assert ticket == 2


def test_a_killed_holder_or_waiter_never_blocks_the_line(tmp_path):
    line = str(tmp_path / "line")
    hold = (
        f"from sessions_app import turns\nwith turns.place_in_line({line!r}):\n    print('in', flush=True)\n    input()"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, stdin=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"in"
    waiter = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, stdin=subprocess.PIPE)
    wait_until(lambda: tickets_given(line) == 2, timeout=10, message="the waiter in the line")
    os.kill(waiter.pid, signal.SIGKILL)  # dies waiting
    waiter.wait(10)
    os.kill(holder.pid, signal.SIGKILL)  # dies holding
    holder.wait(10)
    began = time.monotonic()
    with turns.place_in_line(line) as ticket:
        assert ticket == 2 and time.monotonic() - began < 1


@pytest.fixture
def sqlite_company():
    conn = connections["company_cronus"]
    if conn.vendor != "sqlite":
        pytest.skip("PostgreSQL writers do not wait for each other to begin")
    return conn


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_transaction_in_turn_waits_for_a_writer_longer_than_the_busy_timeout(sqlite_company):
    """Waiting is not failing: where a plain immediate transaction gives up, one in turn waits on."""
    import sqlite3

    other = sqlite3.connect(sqlite_company.settings_dict["NAME"], isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another writer (a web request, a command) holds the lock
    sqlite_company.ensure_connection()
    with sqlite_company.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 200")
    try:
        with pytest.raises(OperationalError, match="database is locked"), write_atomic("company_cronus"):
            pass
        threading.Timer(1.0, lambda: other.execute("COMMIT")).start()
        began = time.monotonic()
        with atomic_in_turn("company_cronus"), sqlite_company.cursor() as cursor:
            cursor.execute("SELECT 1")
        assert time.monotonic() - began >= 0.9
    finally:
        sqlite_company.close()  # its busy timeout back to the setting
        other.close()
