"""``manage.py sessions_health``: exit 0 when sessions can run here, 1 with the reason when not (for cron, probes)."""

from sessions_app import health

from ._base import SessionsCommand, could_not, int_between

seconds = int_between(1, 7 * 24 * 3600)


class Command(SessionsCommand):
    help = (
        "Check that the registry and every company database answer, that a cluster beat recently and that no "
        "session has waited too long in the queue. Exit 0 and 'ok: ...', or exit 1 and what failed, in one line."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--beat-within",
            type=seconds,
            metavar="SECONDS",
            help="a cluster must have beaten within this many seconds (default: SESSIONS_HEALTH_BEAT_WITHIN, 60)",
        )
        parser.add_argument(
            "--queue-age",
            type=seconds,
            metavar="SECONDS",
            help="the oldest queued session may have waited this long (default: SESSIONS_HEALTH_QUEUE_AGE, 300)",
        )
        parser.add_argument("--json", action="store_true", help="every check as JSON")

    def handle(self, *args, **options):
        result = health.check(beat_within=options["beat_within"], queue_age=options["queue_age"])
        if options["json"]:
            self.write_json({"ok": result.ok, "reason": result.reason, "checks": [c.__dict__ for c in result.checks]})
        if not result.ok:
            raise could_not(result.reason)
        if not options["json"]:
            self.stdout.write(result.reason)
