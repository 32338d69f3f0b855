"""One leader per cluster: a lock file, a touch per look, and a stand-in when the leader is frozen."""

import os
import tempfile
import time
import uuid
from pathlib import Path

from sessions_app.leader import Leadership


def test_one_worker_leads_another_stands_in_while_it_is_silent_and_takes_over_when_it_dies():
    name = f"test-{uuid.uuid4().hex}"
    first, second = Leadership(name), Leadership(name)
    try:
        assert first.held() and not second.held()
        long_ago = time.time() - 3600
        os.utime(first.path, (long_ago, long_ago))  # the leader froze: no touch for an hour
        assert second.held()  # stands in, without taking the lock
        assert first.held() and not second.held()  # the leader looks again
        os.close(first._fd)  # the leader's process ends: the kernel releases its lock
        first._fd = None
        assert second.held() and second._fd is not None
    finally:
        for leadership in (first, second):
            if leadership._fd is not None:
                os.close(leadership._fd)
        first.path.unlink(missing_ok=True)


def test_the_lock_files_live_in_a_folder_only_this_user_can_write(tmp_path, settings):
    """In the shared temp folder, another local user could make the lock file first and silence the checks."""
    import stat

    import pytest
    from django.core.exceptions import ImproperlyConfigured

    from sessions_app.leader import run_dir

    leadership = Leadership(f"test-{uuid.uuid4().hex}")
    folder = leadership.path.parent
    info = os.stat(folder)
    assert info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) == 0o700
    assert folder == run_dir() and folder != Path(tempfile.gettempdir())

    settings.SESSIONS_RUN_DIR = str(tmp_path / "shared")
    os.mkdir(tmp_path / "shared", 0o777)
    os.chmod(tmp_path / "shared", 0o777)  # another user may write there
    with pytest.raises(ImproperlyConfigured, match="is not private"):
        Leadership("someone-elses")
    if os.getuid() == 0:  # root can hand a folder to another user, as that user would have made it first
        os.mkdir(tmp_path / "theirs", 0o700)
        os.chown(tmp_path / "theirs", 65534, 65534)
        settings.SESSIONS_RUN_DIR = str(tmp_path / "theirs")
        with pytest.raises(ImproperlyConfigured, match="owner uid 65534"):
            Leadership("someone-elses")
    os.symlink(tmp_path / "shared", tmp_path / "link")
    settings.SESSIONS_RUN_DIR = str(tmp_path / "link")
    with pytest.raises(ImproperlyConfigured, match="is not a folder"):
        Leadership("someone-elses")
    settings.SESSIONS_RUN_DIR = str(tmp_path / "mine")
    assert Leadership("mine").held() and stat.S_IMODE(os.stat(tmp_path / "mine").st_mode) == 0o700


def test_a_prune_is_due_once_an_interval_in_the_cluster_whichever_worker_leads(tmp_path, settings):
    settings.SESSIONS_RUN_DIR = str(tmp_path)
    first, second = Leadership("due"), Leadership("due")
    assert first.due("prune", 3600)
    assert not first.due("prune", 3600) and not second.due("prune", 3600)  # a new leader does not prune at once
    long_ago = time.time() - 7200
    os.utime(first.path.with_suffix(".prune"), (long_ago, long_ago))
    assert second.due("prune", 3600) and not first.due("prune", 3600)
