"""The scheduling layer's app config: its dispatcher in every worker, its origins, pruning and deferral."""

from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    """The scheduling layer: Business Central's task scheduler and job queue, built on the engine's public API."""

    name = "sessions_app.scheduling"
    label = "sessions_scheduling"
    verbose_name = "Scheduled tasks and job queue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from sessions_app import deferral, origins, transport
        from sessions_app.signals import prune

        from . import deferred, dispatcher
        from .housekeeping import describe_origin, prune_finished, resolve_origin

        transport.on_worker_start(dispatcher.start_in_worker, "sessions_app.scheduling.dispatcher")
        prune.connect(prune_finished, dispatch_uid="sessions_app.scheduling.prune")
        for kind in ("task", "job"):
            origins.register(kind, describe=describe_origin, resolve=resolve_origin)
        deferral.register(enqueue=deferred.enqueue, attempts=deferred.attempts)
