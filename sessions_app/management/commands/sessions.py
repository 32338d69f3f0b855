"""``manage.py sessions``: the session log, newest first, filtered by company, status or activity."""

from sessions_app.companies import get_company
from sessions_app.exceptions import UnknownCompany
from sessions_app.models import BackgroundSession, Status

from ._base import SessionsCommand, bad_input, company_hint, positive_int


class Command(SessionsCommand):
    help = "List background sessions, newest first."

    def add_arguments(self, parser):
        parser.add_argument("--active", action="store_true", help="only pending, queued or running sessions")
        parser.add_argument("--company", help="company name, in any case")
        parser.add_argument("--status", choices=Status.values)
        parser.add_argument("--limit", type=positive_int, default=20)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        sessions = BackgroundSession.objects.all()
        if options["active"]:
            sessions = sessions.active()
        if options["company"]:
            try:
                sessions = sessions.for_company(get_company(options["company"]).name)
            except UnknownCompany as e:
                raise bad_input(str(e) + company_hint(options["company"])) from e
        if options["status"]:
            sessions = sessions.filter(status=options["status"])
        sessions = list(sessions[: options["limit"]])
        if options["json"]:
            self.write_json([s.as_dict() for s in sessions])
            return
        if not sessions:
            self.stdout.write("No sessions.")
            return
        self.stdout.write(
            f"{'ID':>7}  {'CODEUNIT':<32} {'COMPANY':<16} {'STATUS':<10} {'MODE':<10} {'ELAPSED':>10}  STARTED"
        )
        for s in sessions:
            elapsed = f"{s.elapsed.total_seconds():.2f}s" if s.elapsed else ""
            started = s.started_at.strftime("%Y-%m-%d %H:%M:%S") if s.started_at else ""
            name = f"{s.codeunit_id} {s.codeunit_name}"
            self.stdout.write(
                f"{s.id:>7}  {name:<32} {s.company:<16} {s.status:<10} {s.mode:<10} {elapsed:>10}  {started}"
            )
