"""How a start is deferred to a later time, as a layer above the engine tells.

The engine starts sessions now. The scheduling layer knows how to start one
later (a scheduled task) and registers it here, so the ``django.tasks`` backend
(``backends.py``) can honour ``run_after`` without importing that layer.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Deferral:
    enqueue: Callable
    """``enqueue(codeunit=, company=, params=, timeout=, not_before=)``: schedule a start; return its result id."""
    attempts: Callable
    """``attempts(result_id)``: the sessions run for it so far (an unsaved stand-in while none has
    started), or ``None`` if the id is not one of this layer's."""


_deferral: Deferral | None = None


def register(*, enqueue: Callable, attempts: Callable) -> None:
    global _deferral
    _deferral = Deferral(enqueue, attempts)


def get() -> Deferral | None:
    return _deferral
