"""What travels through django-q2: a task id, and a signed package that carries only a session's id.

Built as ``async_task`` builds it (``tests/test_django_q2_contract.py``
compares the two), without calling it: with the ORM broker it closes "stale"
connections, which can silently end a caller's open transaction on a company
alias, and it names a task id of its own after the session row, which
carries the id, is written.
"""

from django.utils import timezone

from ..conf import SESSION_TASK

TASK_FUNC = SESSION_TASK
"""The one function a session's package names: the runner's entry point."""


def new_task_id() -> str:
    """A django-q2 task id (32 hex digits), stored on the session row before it is published."""
    from django_q.humanhash import uuid as q_uuid

    return q_uuid()[1]


def package(session_id: int, task_id: str) -> bytes:
    """Return the signed django-q2 package that runs session ``session_id`` as task ``task_id``."""
    from django_q.signals import pre_enqueue
    from django_q.signing import SignedPackage

    task = {
        "id": task_id,
        "name": f"session-{session_id}",
        "func": TASK_FUNC,
        "args": (session_id,),
        "kwargs": {},
        # The session's watcher enforces its timeout without raising into the
        # codeunit. django-q2's own timeout would (SIGALRM): it is switched off.
        "timeout": -1,
        "ack_failure": True,
        # The registry records the outcome; django-q2 need not save it again.
        "save": False,
        "started": timezone.now(),
    }
    pre_enqueue.send(sender="django_q", task=task)
    return SignedPackage.dumps(task)
