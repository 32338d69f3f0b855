"""Signals the engine sends, for the layers built on it."""

from django.dispatch import Signal

session_finished = Signal()
"""Sent with ``session`` (its registry row, finished) once a session's outcome is recorded, in the process
that recorded it: the worker that ran it, the caller of an inline run, or the cluster's check that settled
it. Receivers must be quick and may not raise into the runner: errors are logged."""

prune = Signal()
"""Sent by ``prune_sessions`` and the cluster's hourly pruning with ``older_than`` (a ``timedelta``):
a receiver deletes its own finished rows older than that and returns how many."""
