"""A scheduler clock the tests can move, shared with the qcluster subprocess through a file.

``SESSIONS_CLOCK = "tests.clock.now"``: the real time plus an offset read
from ``<SESSIONS_DATA_DIR>/clock-offset``. Time keeps flowing; ``travel_to``
jumps it, for every process at once.
"""

import os
from datetime import datetime, timedelta
from pathlib import Path

from django.utils import timezone


def _path() -> Path:
    return Path(os.environ["SESSIONS_DATA_DIR"]) / "clock-offset"


def offset() -> float:
    try:
        return float(_path().read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0.0


def now() -> datetime:
    return timezone.now() + timedelta(seconds=offset())


def travel_to(moment: datetime) -> None:
    """Make the scheduler clock read ``moment`` now (and run on from there)."""
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(repr((moment - timezone.now()).total_seconds()))
    tmp.replace(path)  # atomic: a reader sees the old offset or the new one


def advance(delta: timedelta) -> None:
    travel_to(now() + delta)


def reset() -> None:
    _path().unlink(missing_ok=True)
