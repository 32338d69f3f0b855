"""The scheduling layer's door: Business Central's task scheduler and job queue.

Every run is an ordinary background session, started through ``sessions_app.api``.
"""

from .jobqueue import add_job, get_job, restart_job, run_job_now, set_job_on_hold, set_job_ready
from .tasks import cancel_task, create_task, get_task, set_task_ready, task_exists

__all__ = [
    "create_task",
    "set_task_ready",
    "task_exists",
    "cancel_task",
    "get_task",
    "add_job",
    "get_job",
    "set_job_ready",
    "set_job_on_hold",
    "restart_job",
    "run_job_now",
]
