"""One leader per cluster: a lock file, a touch per look, and a stand-in when the leader is frozen."""

import os
import time
import uuid

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
