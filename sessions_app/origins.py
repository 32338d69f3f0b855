"""What started a session, as the layer that started it tells.

A layer built on sessions (the scheduler, the job queue) starts them with an
``origin`` such as ``task:5:2`` and registers, for its kind (``task``), how to
describe such an origin to a person and which object it stands for. The engine
shows and hands these on without knowing the layers above it.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class _Kind:
    describe: Callable
    resolve: Callable | None


_kinds: dict[str, _Kind] = {}

RERUN = "rerun"
"""The engine's own kind: ``rerun:<id>`` is the one re-run of lost session ``id`` (``rerun_lost``)."""


def register(kind: str, *, describe: Callable, resolve: Callable | None = None) -> None:
    """Register how origins ``kind:...`` are described (``describe(session)``) and resolved (``resolve(session)``)."""
    _kinds[kind] = _Kind(describe, resolve)


def _kind(session) -> _Kind | None:
    return _kinds.get((session.origin or "").partition(":")[0])


def describe(session) -> str:
    """Return what started ``session`` in words ("scheduled task 5, attempt 2"), or ``""``."""
    kind = _kind(session)
    return kind.describe(session) if kind is not None else ""


def resolve(session):
    """Return the object that started ``session`` (a scheduled task, a job queue entry), or ``None``."""
    kind = _kind(session)
    return kind.resolve(session) if kind is not None and kind.resolve is not None else None
