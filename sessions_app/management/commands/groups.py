"""``manage.py groups``: list, show, start and stop groups of sessions (``start_group``)."""

import shlex

from sessions_app import api
from sessions_app.exceptions import GroupNotFound, GroupWaitTimeout, SessionStartError
from sessions_app.models import GroupPolicy, GroupStatus, SessionGroup

from ._base import (
    TIMEOUT_HELP,
    ListingCommand,
    add_param_argument,
    bad_input,
    collect_params,
    could_not,
    default_company,
    parse_param,
    positive_int,
    start_refused,
    timeout_seconds,
)


def member_params(text: str) -> dict[str, str]:
    """One member's parameters: ``"customer_no=C1 vendor_no=V1"`` (quote a value with spaces)."""
    return collect_params(parse_param(word) for word in shlex.split(text))


class Command(ListingCommand):
    help = (
        "Groups of sessions started together, with a completion codeunit that runs once when the last has ended: "
        "list them (the default), show one, start or stop one. Exit 1: the group failed or was stopped (with "
        "--wait), or it has ended already; 2: bad input (nothing was started)."
    )

    list_help = "groups, newest first (default)"

    def add_actions(self, actions):
        show = actions.add_parser("show", help="a group, its members and its completion")
        show.add_argument("id", help="group id")
        show.add_argument("--json", action="store_true", help="print JSON")

        stop = actions.add_parser("stop", help="stop the members still queued or running; no completion runs")
        stop.add_argument("id", help="group id")

        start = actions.add_parser("start", help="start a codeunit once per --member; print the group id")
        start.add_argument("codeunit", help="codeunit id or name")
        start.add_argument(
            "--member",
            action="append",
            default=[],
            type=member_params,
            metavar="'KEY=VALUE ...'",
            help="one member's parameters; repeat for each member",
        )
        start.add_argument("--count", type=positive_int, help="this many members with the same --param values")
        add_param_argument(start)
        start.add_argument("--company", help="company name (default: the first company)")
        start.add_argument("--then", metavar="CODEUNIT", help="runs once when the last member has ended")
        start.add_argument("--then-param", action="append", default=[], type=parse_param, metavar="KEY=VALUE")
        start.add_argument("--policy", choices=GroupPolicy.values, default=GroupPolicy.ALL_SUCCEEDED)
        start.add_argument("--name", default="", help="a name to find it by")
        start.add_argument("--timeout", type=timeout_seconds, metavar="SECONDS", help=TIMEOUT_HELP)
        start.add_argument("--wait", action="store_true", help="wait until it has ended, and its completion too")
        start.add_argument("--json", action="store_true", help="print JSON")

    def list_arguments(self, parser, default):
        parser.add_argument("--status", choices=GroupStatus.values, default=default)
        parser.add_argument("--limit", type=positive_int, default=default or 20)
        parser.add_argument("--json", action="store_true", default=default or False)

    def handle_list(self, options):
        groups = SessionGroup.objects.all()
        if options["status"]:
            groups = groups.filter(status=options["status"])
        groups = list(groups[: options["limit"]])
        if options["json"]:
            self.write_json([self.as_dict(g, members=False) for g in groups])
            return
        if not groups:
            self.stdout.write("No groups.")
            return
        self.stdout.write(f"{'ID':>7}  {'NAME':<24} {'STATUS':<10} {'ENDED':>9} {'POLICY':<14} COMPLETION")
        for g in groups:
            done, total = g.progress()
            self.stdout.write(
                f"{g.id:>7}  {g.name[:24]:<24} {g.status:<10} {f'{done}/{total}':>9} {g.policy:<14} "
                f"{g.completion_id or ''}"
            )

    def _group(self, given) -> SessionGroup:
        try:
            return api.get_group(given)
        except GroupNotFound as e:
            raise bad_input(str(e)) from e

    @staticmethod
    def as_dict(group: SessionGroup, *, members: bool = True) -> dict:
        done, total = group.progress()
        data = {
            "id": group.id,
            "name": group.name,
            "status": group.status,
            "policy": group.policy,
            "members_ended": done,
            "members": total,
            "message": group.message,
            "completion": group.completion_id,
            "then": group.then_codeunit_name or None,
            "created_at": group.created_at.isoformat(),
            "decided_at": group.decided_at.isoformat() if group.decided_at else None,
        }
        if members:
            data["outcomes"] = group.outcomes()
        return data

    def handle_show(self, options):
        group = self._group(options["id"])
        if options["json"]:
            self.write_json(self.as_dict(group))
            return
        done, total = group.progress()
        named = f" {group.name}" if group.name else ""
        self.stdout.write(f"Group {group.id}{named}: {group.status}, {done} of {total} members ended")
        if group.message:
            self.stdout.write(f"  {group.message}")
        for outcome in group.outcomes():
            self.stdout.write(
                f"  session {outcome['session_id']:>7}  {outcome['codeunit_name']:<30} {outcome['status']:<10} "
                f"{(outcome['error'] or '').splitlines()[0][:60] if outcome['error'] else ''}"
            )

    def handle_stop(self, options):
        group = self._group(options["id"])
        if not api.stop_group(group.id):
            raise could_not(f"Group {group.id} has already ended: {group.status}.")
        self.stdout.write(f"Group {group.id} stopped.")

    def handle_start(self, options):
        params = collect_params(options["param"])
        if options["member"] and (options["count"] or params):
            raise bad_input("Give --member for each member, or --count with --param: not both.")
        members = options["member"] or [params] * (options["count"] or 1)
        company = options["company"] or default_company()
        try:
            group = api.start_group(
                options["codeunit"],
                params=members,
                company=company,
                then=options["then"],
                then_params=collect_params(options["then_param"]),
                policy=options["policy"],
                name=options["name"],
                timeout=options["timeout"],
            )
        except SessionStartError as e:
            raise start_refused(e, codeunit=options["codeunit"], company=company) from e
        if options["wait"]:
            try:
                group = api.wait_group(group.id)
            except GroupWaitTimeout as e:  # pragma: no cover - waits for ever
                raise could_not(str(e)) from e
        if options["json"]:
            self.write_json(self.as_dict(group))
        else:
            self.stdout.write(str(group.id))
        if options["wait"] and group.status != GroupStatus.SUCCEEDED:
            raise could_not(f"Group {group.id} {group.status}: {group.message}.")
