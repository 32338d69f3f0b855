"""Signals the engine sends, for the layers built on it."""

from django.dispatch import Signal

prune = Signal()
"""Sent by ``prune_sessions`` and the cluster's hourly pruning with ``older_than`` (a ``timedelta``):
a receiver deletes its own finished rows older than that and returns how many."""
