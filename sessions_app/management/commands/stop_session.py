from django.core.management.base import CommandError

from sessions_app import api

from ._base import SessionsCommand, bad_input


class Command(SessionsCommand):
    help = "Stop a session: cancel it if it has not started, end it and roll it back if it runs. Exit 1 if it cannot."

    def add_arguments(self, parser):
        parser.add_argument("id", help="session id")
        parser.add_argument("--comment", default="", help="why (recorded with the session)")

    def handle(self, *args, **options):
        try:
            session_id = int(options["id"])
        except ValueError:
            raise bad_input(f"Session id {options['id']!r} is not a whole number.") from None
        result = api.request_stop(session_id, comment=options["comment"])
        if not result:
            raise CommandError(result.reason, returncode=1)
        self.stdout.write(result.reason)
