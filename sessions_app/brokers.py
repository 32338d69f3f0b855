"""The brokers, where settings name them: ``Q_CLUSTER["broker_class"] = "sessions_app.brokers.GuardedORM"``.

They live in the transport, the one package that knows django-q2 (``sessions_app.transport.brokers``).
"""

from .transport.brokers import GuardedORM, GuardedRedis

__all__ = ["GuardedORM", "GuardedRedis"]
