"""How often a cluster's pollers look: briskly while there is work, slowly once it has been quiet.

A poller (the ORM broker's queue reader, the checks, the dispatcher) calls
``worked()`` when a look found something, and sleeps ``wait(busy, idle)``
between looks: ``busy`` until ``IDLE_AFTER`` seconds pass without work, then
``idle``. A steady stream of sessions keeps its latency; an idle cluster makes
under one query a second in all (README: Configuration; `manage.py idle_queries` measures it).
"""

import time

from .conf import app_settings


class Pace:
    def __init__(self):
        self._last_work = time.monotonic()

    def worked(self) -> None:
        self._last_work = time.monotonic()

    def quiet(self) -> bool:
        """Has nothing been found for ``IDLE_AFTER`` seconds?"""
        return time.monotonic() - self._last_work >= app_settings.IDLE_AFTER

    def wait(self, busy: float, idle: float) -> float:
        return max(busy, idle) if self.quiet() else busy
