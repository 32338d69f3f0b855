"""One leader per cluster for the periodic work: the checks and the dispatcher.

Every worker of a ``qcluster`` could do the periodic work (each step is a
conditional update), but doing it in every worker only multiplies the
queries. The workers of one cluster share a lock file named for the cluster
(the sentinel's pid on this host); the worker holding its ``flock`` leads.
The kernel releases the lock when that process dies, however it dies, and
the next worker to look takes over: no database row, no timeout to tune.
Clusters on other hosts (or several on one host) each have their own leader.
"""

import fcntl
import os
import socket
import tempfile
from pathlib import Path


class Leadership:
    """This process's claim to lead its cluster: ``held()`` takes the lock when it is free."""

    def __init__(self, name: str | None = None):
        self.name = name or f"{socket.gethostname()}-{os.getppid()}"
        self.path = Path(tempfile.gettempdir()) / f"sessions-cluster-{self.name}.lock"
        self._fd: int | None = None

    def held(self) -> bool:
        """Return True if this process leads its cluster, taking the lock if nobody holds it."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True


_leadership: Leadership | None = None
_pid: int | None = None


def leadership() -> Leadership:
    """Return this process's ``Leadership`` (a new one after a fork: a lock is not inherited as a claim)."""
    global _leadership, _pid
    if _leadership is None or _pid != os.getpid():
        _leadership, _pid = Leadership(), os.getpid()
    return _leadership
