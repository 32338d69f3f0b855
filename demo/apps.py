from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The seed's business data: customers, vendors and the session log, per company."""

    name = "demo"
    label = "demo"
    verbose_name = "Demo business data"
    default_auto_field = "django.db.models.BigAutoField"
