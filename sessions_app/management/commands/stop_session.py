"""``manage.py stop_session``: stop a running session, or cancel one that has not started."""

from sessions_app import api

from ._base import SessionsCommand, bad_input, could_not, session_id_hint


class Command(SessionsCommand):
    help = (
        "Stop a session: cancel it if it has not started, end it and roll it back if it runs. "
        "Exit 1: it cannot be stopped (it has already finished); 2: no session has this id."
    )

    def add_arguments(self, parser):
        parser.add_argument("id", help="session id")
        parser.add_argument("--comment", default="", help="why (recorded with the session)")

    def handle(self, *args, **options):
        try:
            session_id = int(options["id"])
        except ValueError:
            raise bad_input(f"Session id {options['id']!r} is not a whole number.") from None
        result = api.request_stop(session_id, comment=options["comment"])
        if not result and result.status is None:  # no user to refuse: only an unknown id has no status
            raise bad_input(result.reason + session_id_hint(session_id))
        if not result:
            raise could_not(result.reason)
        self.stdout.write(result.reason)
