"""The engine's app config: registers the system checks, imports every app's codeunits, wires the workers."""

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class SessionsConfig(AppConfig):
    name = "sessions_app"
    label = "sessions_app"
    verbose_name = "Background sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks, tag "sessions_app")

        # Import every installed app's codeunits.py so the registry is complete
        # before any session starts or runs.
        autodiscover_modules("codeunits")

        if _tasks_backend_configured():
            from .backends import register_codeunit  # imports django.tasks, which Django 5.2 lacks unless asked

            register_codeunit()

        from django.core.signals import request_finished

        from . import groups, origins, pending, signals, transport
        from .maintenance import start_in_worker

        # A member's end may be its group's last: its group is settled where the end was recorded.
        signals.session_finished.connect(groups.on_session_finished, dispatch_uid="sessions_app.groups")
        origins.register(groups.GROUP, describe=groups.describe_origin, resolve=groups.resolve_origin)
        # A request's on-commit starts whose transactions rolled back are settled as it ends.
        request_finished.connect(pending.settle_ended, dispatch_uid="sessions_app.pending")
        transport.on_worker_start(start_in_worker, "sessions_app.maintenance")
        transport.hide_admin()  # sessions are the queue people see; django-q2's rows are the transport


def _tasks_backend_configured() -> bool:
    """True when one of the project's ``TASKS`` backends is this app's (read without importing it)."""
    from django.conf import settings

    return any(
        isinstance(params, dict) and params.get("BACKEND") == "sessions_app.backends.SessionsBackend"
        for params in (getattr(settings, "TASKS", None) or {}).values()
    )
