"""The scheduler's clock: when tasks and job queue entries are due.

Scheduling decisions read ``now()`` here rather than ``timezone.now()``, so
that tests (and rehearsals of a schedule) can move time for a whole cluster by
pointing ``SESSIONS_CLOCK`` at another callable. Session timestamps stay on
the real clock.
"""

from datetime import datetime
from functools import lru_cache

from django.utils.module_loading import import_string

from .conf import app_settings


@lru_cache(maxsize=4)
def _load(path: str):
    return import_string(path)


def now() -> datetime:
    """Return the scheduler's current time (an aware datetime)."""
    return _load(app_settings.CLOCK)()
