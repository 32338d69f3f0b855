from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    """The scheduling layer: Business Central's task scheduler and job queue, built on the engine's public API."""

    name = "sessions_app.scheduling"
    label = "sessions_scheduling"
    verbose_name = "Scheduled tasks and job queue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django_q.signals import post_spawn

        from sessions_app import deferral, origins
        from sessions_app.signals import prune

        from . import deferred, dispatcher
        from .housekeeping import describe_origin, prune_finished, resolve_origin

        post_spawn.connect(dispatcher.start_in_worker, dispatch_uid="sessions_app.scheduling.dispatcher")
        prune.connect(prune_finished, dispatch_uid="sessions_app.scheduling.prune")
        for kind in ("task", "job"):
            origins.register(kind, describe=describe_origin, resolve=resolve_origin)
        deferral.register(enqueue=deferred.enqueue, attempts=deferred.attempts)
        _hide_django_q_schedules()


def _hide_django_q_schedules():
    """Take django-q2's Schedule admin away whichever of the two apps the admin discovered first.

    Its schedules would run any dotted path, which the guarded brokers refuse: scheduling
    is done through codeunits here. ``admin.py`` does the same when it is imported later.
    """
    from django.contrib import admin
    from django_q.models import Schedule

    if admin.site.is_registered(Schedule):
        admin.site.unregister(Schedule)
