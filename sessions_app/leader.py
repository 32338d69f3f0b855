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
import stat
import tempfile
import time
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from . import transport
from .conf import app_settings


def run_dir_path() -> Path:
    """Where the cluster's lock files go: ``SESSIONS_RUN_DIR``, else a folder of this user's own in the temp folder."""
    return Path(app_settings.RUN_DIR or Path(tempfile.gettempdir()) / f"django-background-sessions-{os.getuid()}")


def not_private(path: Path) -> str:
    """Why the existing folder ``path`` is no place for the cluster's locks; ``""`` if only this user can write it."""
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):  # a symbolic link too: it could point anywhere
        return f"SESSIONS_RUN_DIR {str(path)!r} is not a folder."
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        return (
            f"SESSIONS_RUN_DIR {str(path)!r} is not private (owner uid {info.st_uid}, mode {info.st_mode & 0o777:o}): "
            "another user could take the cluster's locks and silence its checks."
        )
    return ""


def run_dir() -> Path:
    """The folder of the cluster's lock files, made if need be; only this user may write there.

    A lock file in the shared temp folder could be made first by another
    local user, who would then hold (or deny) the lock and silence the
    cluster's checks. A folder that someone else owns, or that others may
    write to, is refused with the reason.
    """
    path = run_dir_path()
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        problem = not_private(path)
    except OSError as e:
        raise ImproperlyConfigured(f"SESSIONS_RUN_DIR {str(path)!r} cannot be used: {e}") from e
    if problem:
        raise ImproperlyConfigured(
            f"{problem} Remove it, or set SESSIONS_RUN_DIR to a folder only this user can write."
        )
    return path


class Leadership:
    """This process's claim to lead its cluster: ``held()`` takes the lock when it is free."""

    def __init__(self, name: str | None = None):
        self.name = name or transport.cluster_name().replace(":", "-")
        self.path = run_dir() / f"cluster-{self.name}.lock"
        self._fd: int | None = None

    def held(self) -> bool:
        """Return True if this process should do the cluster's periodic work now.

        It leads (taking the lock if nobody holds it), or the leader has not
        looked for three check intervals and this process acts in its stead.
        """
        if self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return self._leader_is_stale()
            self._fd = fd
        os.utime(self.path)  # the leader's touch: it is alive and looking
        return True

    def due(self, what: str, every: float) -> bool:
        """Is ``what`` due (last done by any leader of this cluster ``every`` seconds ago)? If so, note it done now.

        The note is a file's time, so a worker that takes over the lead (its
        predecessor died, or was recycled) does not start it again at once.
        """
        marker = self.path.with_suffix(f".{what}")
        try:
            if time.time() - os.stat(marker).st_mtime < every:
                return False
        except FileNotFoundError:
            pass
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))
        os.utime(marker)
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
