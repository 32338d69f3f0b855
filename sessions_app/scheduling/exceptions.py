"""The scheduling layer's errors, under the engine's ``SessionError``."""

from typing import Any

from sessions_app.exceptions import SessionError


class TaskNotFound(SessionError):
    def __init__(self, task_id: Any):
        self.task_id = task_id
        super().__init__(f"Scheduled task {task_id!r} does not exist.")


class JobQueueError(SessionError):
    """A job queue entry is unknown, or cannot be changed now; ``reason`` says which.

    One of ``not_found``, ``in_process``, ``category_busy``, ``permission_denied``, ``not_started``.
    """

    def __init__(self, message: str, reason: str = "not_found"):
        self.reason = reason
        super().__init__(message)
