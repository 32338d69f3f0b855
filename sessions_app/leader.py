"""One leader per cluster for the periodic work: the checks and the dispatcher.

Every worker of a ``qcluster`` could do the periodic work (each step is a
conditional update), but doing it in every worker only multiplies the
queries. The workers of one cluster share a lock file named for the cluster
(the sentinel's pid on this host); the worker holding its ``flock`` leads.
The kernel releases the lock when that process dies, however it dies, and
the next worker to look takes over: no database row. A leader that lives but
cannot run (frozen, or one C call holding the interpreter) still holds the
lock, so the leader touches the file each time it looks, and the others act
in its stead while its touch is older than three check intervals. Clusters
on other hosts (or several on one host) each have their own leader.
"""

import fcntl
import os
import socket
import tempfile
import time
from pathlib import Path

from .conf import app_settings


class Leadership:
    """This process's claim to lead its cluster: ``held()`` takes the lock when it is free."""

    def __init__(self, name: str | None = None):
        self.name = name or f"{socket.gethostname()}-{os.getppid()}"
        self.path = Path(tempfile.gettempdir()) / f"sessions-cluster-{self.name}.lock"
        self._fd: int | None = None

    def held(self) -> bool:
        """Return True if this process should do the cluster's periodic work now.

        It leads (taking the lock if nobody holds it), or the leader has not
        looked for three check intervals and this process acts in its stead.
        """
        if self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return self._leader_is_stale()
            self._fd = fd
        os.utime(self.path)  # the leader's touch: it is alive and looking
        return True

    def _leader_is_stale(self) -> bool:
        try:
            age = time.time() - os.stat(self.path).st_mtime
        except FileNotFoundError:
            return False
        return age > 3 * app_settings.MAINTENANCE_INTERVAL + 1


_leadership: Leadership | None = None
_pid: int | None = None


def leadership() -> Leadership:
    """Return this process's ``Leadership`` (a new one after a fork: a lock is not inherited as a claim)."""
    global _leadership, _pid
    if _leadership is None or _pid != os.getpid():
        _leadership, _pid = Leadership(), os.getpid()
    return _leadership
