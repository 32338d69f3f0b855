"""``manage.py companies``: the companies, their database aliases and whether their databases are migrated."""

from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

from sessions_app.companies import all_companies

from ._base import SessionsCommand


def migration_state(alias: str) -> str:
    """Return ``migrated``, ``N pending`` or ``unavailable: <reason>`` for a database alias."""
    try:
        executor = MigrationExecutor(connections[alias])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as e:
        return f"unavailable: {str(e).splitlines()[0]}"
    return "migrated" if not plan else f"{len(plan)} pending"


class Command(SessionsCommand):
    help = "List the companies, their database aliases and whether their databases are migrated."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        rows = []
        for company in all_companies():
            settings_dict = connections[company.alias].settings_dict
            rows.append(
                {
                    "name": company.name,
                    "alias": company.alias,
                    "engine": settings_dict["ENGINE"].rsplit(".", 1)[-1],
                    "database": str(settings_dict["NAME"]),
                    "migrations": migration_state(company.alias),
                }
            )
        if options["json"]:
            self.write_json(rows)
            return
        if not rows:
            self.stdout.write("No companies.")
            return
        self.stdout.write(f"{'NAME':<20} {'ALIAS':<24} {'ENGINE':<11} {'MIGRATIONS':<12} DATABASE")
        for r in rows:
            self.stdout.write(
                f"{r['name']:<20} {r['alias']:<24} {r['engine']:<11} {r['migrations']:<12} {r['database']}"
            )
