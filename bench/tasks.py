"""The ``@task`` of the benchmark's ``tasks_db`` and ``tasks_backend`` peers.

One function, enqueued with Django's task API on each backend (``noop.using(backend=...)``). It is
declared for the project's default backend, the sessions backend, so a qcluster worker finds it
(``SessionsBackend`` runs only ``@task`` functions of installed apps declared for it); ``db_worker``
imports it by path.
"""

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task


@task
def noop():
    """Do nothing: what a task costs by itself."""
    return None
