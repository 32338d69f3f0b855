"""The Celery peers of the benchmark: a no-op task on a Redis broker, without and with a result backend.

No Django here: a worker imports this module alone (``celery -A bench.celery_app worker``), and
``BENCH_CELERY_RESULTS=1`` in its environment gives it the Redis result backend.

How the benchmark knows N tasks are done: each task INCRs a per-round Redis counter whose key it is
given, in both variants, so both do the same work and the one without a result backend has something
to wait on. With the result backend each task also stores its result, and the producer subscribes to
each task's result as Celery does by default; that is the cost the second variant adds. The counter
reaches N when the last task's body has run, a moment before its result is stored.
"""

import os

from celery import Celery

_client = None


def broker_url() -> str:
    """``REDIS_URL`` (the sessions' Redis, when it has one), else a database of its own on the local Redis."""
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/13"


def queue_name(results: bool) -> str:
    """Each variant has its queue, so a worker never takes the other variant's tasks."""
    return "bench-celery-redis" if results else "bench-celery-none"


def counter():
    """This process's Redis client for the counters (made after the fork, in each pool process)."""
    global _client
    if _client is None:
        import redis

        _client = redis.Redis.from_url(broker_url())
    return _client


def make_app(results: bool) -> Celery:
    app = Celery("bench", broker=broker_url(), backend=broker_url() if results else None)
    app.conf.update(
        task_default_queue=queue_name(results),
        task_ignore_result=not results,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )

    @app.task(name="bench.noop", shared=False)  # each app its own: the producer holds one per variant
    def noop(key: str):
        counter().incr(key)

    return app


app = make_app(os.environ.get("BENCH_CELERY_RESULTS") == "1")
