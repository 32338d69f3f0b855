"""``manage.py migrate_all``: migrate the control database, the registry and every company database, in one go."""

from django.core.management import call_command

from sessions_app.companies import all_companies
from sessions_app.conf import app_settings

from ._base import SessionsCommand


class Command(SessionsCommand):
    help = "Migrate the control database, the session registry and every company database."

    def handle(self, *args, **options):
        verbosity = options["verbosity"]
        aliases = ["default", app_settings.REGISTRY_ALIAS] + [c.alias for c in all_companies()]
        for alias in aliases:
            self.stdout.write(f"Migrating {alias}...")
            call_command("migrate", database=alias, interactive=False, verbosity=max(0, verbosity - 1))
        self.stdout.write(self.style.SUCCESS(f"Migrated {len(aliases)} databases."))
