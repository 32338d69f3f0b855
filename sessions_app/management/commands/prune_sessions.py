"""``manage.py prune_sessions``: delete finished sessions, and the layers' finished rows, older than some days."""

from datetime import timedelta

from sessions_app.maintenance import prune, prune_others

from ._base import SessionsCommand, positive_days


class Command(SessionsCommand):
    help = (
        "Delete finished sessions (and their events), finished scheduled tasks and job queue log entries "
        "that finished more than DAYS days ago."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=positive_days, required=True, metavar="DAYS")

    def handle(self, *args, **options):
        deleted = prune(timedelta(days=options["older_than"]))
        scheduled = prune_others(timedelta(days=options["older_than"]), robust=False)
        self.stdout.write(f"Deleted {deleted} finished sessions older than {options['older_than']} days.")
        self.stdout.write(f"Deleted {scheduled} finished scheduled tasks and job queue log entries.")
