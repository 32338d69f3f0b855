"""A company's line on SQLite: sessions take its write lock one after another, in the order they came.

SQLite lets one writer at a time into a database file, and its busy handler
is no queue: a waiting connection sleeps and tries again, so a worker that
commits and begins its next session at once can take the lock again and
again while another one waits, until that one's busy timeout fails it
("database is locked"). So before a session's transaction begins, it takes a
ticket in the company's line, a small file beside the database, and waits
until every earlier ticket has been given back.

A ticket is a lock on one byte of that file, an open file description lock
(``F_OFD_SETLK``, Linux): the kernel gives it back when the transaction ends,
and also when the process that held it dies, however it dies, so a killed
worker never blocks the line. Waiting for every earlier ticket is one lock on
the range of bytes below one's own, which the kernel grants the moment the
last of them is released: no polling in a worker, and no gap between two
sessions. The counter that hands out tickets is the file's first eight bytes,
under a lock of its own.

Where the platform has no such locks, a session still waits for the lock as
long as it takes (``transactions.atomic_in_turn``), only not in order.
"""

import fcntl
import os
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_SETLK = getattr(fcntl, "F_OFD_SETLK", None)
_SETLKW = getattr(fcntl, "F_OFD_SETLKW", None)
_FLOCK = struct.Struct("@hhqqi4x")  # struct flock: l_type, l_whence, l_start, l_len, l_pid (0 for OFD locks)
_COUNTER = 0  # bytes 0-7: the next ticket
_FIRST_TICKET = 16  # ticket n is the byte at 16 + n
POLL = 0.01  # seconds between looks of a waiter that must be able to give up (an inline session)


def available() -> bool:
    """Can this platform keep a line (open file description locks)?"""
    return _SETLKW is not None


def _lock(fd: int, kind: int, start: int, length: int, *, wait: bool) -> bool:
    """Take (or with ``F_UNLCK`` give back) a lock on ``length`` bytes at ``start``; False if busy and not waiting."""
    try:
        fcntl.fcntl(fd, _SETLKW if wait else _SETLK, _FLOCK.pack(kind, os.SEEK_SET, start, length, 0))
    except (BlockingIOError, PermissionError):  # EAGAIN or EACCES: another description holds it
        return False
    return True


def _take_ticket(fd: int) -> int:
    _lock(fd, fcntl.F_WRLCK, _COUNTER, 8, wait=True)
    try:
        raw = os.pread(fd, 8, _COUNTER)
        ticket = int.from_bytes(raw, "little") if len(raw) == 8 else 0
        os.pwrite(fd, (ticket + 1).to_bytes(8, "little"), _COUNTER)
        # Taken before the counter is let go, so a later ticket always finds it held.
        _lock(fd, fcntl.F_WRLCK, _FIRST_TICKET + ticket, 1, wait=False)
    finally:
        _lock(fd, fcntl.F_UNLCK, _COUNTER, 8, wait=False)
    return ticket


@contextmanager
def place_in_line(path: str, *, give_up: Callable[[], None] | None = None) -> Iterator[int]:
    """Wait until every session that came before has left the line at ``path``; yield this one's ticket.

    The place is kept until the block ends. Without ``give_up`` the wait
    blocks in the kernel (a worker, which its watcher can end); with it, the
    waiter looks every ``POLL`` seconds and calls ``give_up()``, which raises
    to leave the line (an inline session that was stopped).
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        ticket = _take_ticket(fd)
        if ticket:
            earlier = (fcntl.F_WRLCK, _FIRST_TICKET, ticket)
            if give_up is None:
                _lock(fd, *earlier, wait=True)
            else:
                while not _lock(fd, *earlier, wait=False):
                    give_up()
                    time.sleep(POLL)
            _lock(fd, fcntl.F_UNLCK, _FIRST_TICKET, ticket, wait=False)
        yield ticket
    finally:
        os.close(fd)  # gives back every lock taken through this descriptor: the ticket too
