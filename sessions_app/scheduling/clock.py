"""The scheduler's clock: when tasks and job queue entries are due.

Scheduling decisions read ``now()`` here rather than ``timezone.now()``, so
that tests (and rehearsals of a schedule) can move time for a whole cluster by
pointing ``SESSIONS_CLOCK`` at another callable. Session timestamps stay on
the real clock.
"""

from datetime import UTC, datetime
from functools import lru_cache

from django.core.exceptions import ValidationError
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


EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
"""Times a schedule may hold: a day inside Python's range, so every time zone can show them."""


def out_of_range(value: datetime) -> str:
    """Why the aware ``value`` cannot be scheduled, or ``""``: a time some time zone cannot show cannot be stored."""
    try:
        inside = EARLIEST <= value.astimezone(UTC) <= LATEST
    except OverflowError:
        inside = False
    if inside:
        return ""
    first, last = EARLIEST.date().isoformat(), LATEST.date().isoformat()
    return f"{value.isoformat()} is out of range: a time from {first} to {last} (UTC) is needed."


def schedulable(value) -> None:
    """A field validator: refuse a time ``out_of_range``."""
    if isinstance(value, datetime) and timezone.is_aware(value) and (message := out_of_range(value)):
        raise ValidationError(message, code="out_of_range")


def aware(value, name: str) -> datetime | None:
    """``value`` as an aware datetime (a naive one is in the current time zone); ``None`` stays ``None``.

    Anything else, or a time ``out_of_range``, raises ``SessionStartError("invalid_params")`` naming the argument.
    """
    if value is None:
        return None
    if not isinstance(value, datetime):
        message = f"{name} must be a datetime, not {value!r}."
        raise SessionStartError("invalid_params", message, {name: [message]})
    try:
        value = value if timezone.is_aware(value) else timezone.make_aware(value)
        message = out_of_range(value)
    except (OverflowError, ValueError) as e:
        message = f"{value!r} cannot be read as a time: {e}."
    if message:
        raise SessionStartError("invalid_params", f"{name}: {message}", {name: [message]})
    return value
