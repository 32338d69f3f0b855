"""The scheduler's clock: when tasks and job queue entries are due.

Scheduling decisions read ``now()`` here rather than ``timezone.now()``, so
that tests (and rehearsals of a schedule) can move time for a whole cluster by
pointing ``SESSIONS_CLOCK`` at another callable. Session timestamps stay on
the real clock.
"""

from datetime import datetime
from functools import lru_cache

from django.utils import timezone
from django.utils.module_loading import import_string

from sessions_app.exceptions import SessionStartError

from .conf import app_settings


@lru_cache(maxsize=4)
def _load(path: str):
    return import_string(path)


def now() -> datetime:
    """Return the scheduler's current time (an aware datetime)."""
    return _load(app_settings.CLOCK)()


def aware(value, name: str) -> datetime | None:
    """``value`` as an aware datetime (a naive one is in the current time zone); ``None`` stays ``None``.

    Anything else raises ``SessionStartError("invalid_params")`` naming the argument.
    """
    if value is None:
        return None
    if not isinstance(value, datetime):
        message = f"{name} must be a datetime, not {value!r}."
        raise SessionStartError("invalid_params", message, {name: [message]})
    return value if timezone.is_aware(value) else timezone.make_aware(value)
