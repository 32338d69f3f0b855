"""``manage.py tasks``: list, create, set ready and cancel scheduled tasks."""

from sessions_app.exceptions import SessionStartError
from sessions_app.management.commands._base import (
    TIMEOUT_HELP,
    add_param_argument,
    bad_input,
    collect_params,
    could_not,
    default_company,
    id_hint,
    positive_int,
    start_refused,
    timeout_seconds,
)
from sessions_app.scheduling import api
from sessions_app.scheduling.exceptions import TaskNotFound
from sessions_app.scheduling.management.commands._scheduling import ListingCommand, first_line, parse_when, when
from sessions_app.scheduling.models import ACTIVE_TASK_STATUSES, ScheduledTask, TaskStatus


class Command(ListingCommand):
    help = (
        "The task scheduler: list tasks (the default), create, set ready or cancel one. "
        "Exit 1: the task has already started or finished; 2: bad input, or an unknown task, codeunit or company "
        "(nothing was changed)."
    )

    list_help = "tasks that still exist (default)"

    def add_actions(self, actions):

        cancel = actions.add_parser("cancel", help="cancel a task; a running one's session is stopped")
        cancel.add_argument("id", help="task id")

        ready = actions.add_parser("ready", help="set a task ready to run")
        ready.add_argument("id", help="task id")
        ready.add_argument("--not-before", type=parse_when, metavar="ISO-DATETIME", help="not before this")

        create = actions.add_parser("create", help="schedule a codeunit to run once; print the task id")
        create.add_argument("codeunit", help="codeunit id or name")
        create.add_argument("--company", help="company name (default: the first company)")
        add_param_argument(create)
        create.add_argument("--not-before", type=parse_when, metavar="ISO-DATETIME", help="default: now")
        create.add_argument("--not-ready", action="store_true", help="wait for `tasks ready ID`")
        create.add_argument("--failure-codeunit", metavar="CODEUNIT", help="runs if the task fails")
        create.add_argument("--timeout", type=timeout_seconds, metavar="SECONDS", help=TIMEOUT_HELP)
        create.add_argument("--json", action="store_true", help="print JSON")

    def list_arguments(self, parser, default):
        parser.add_argument("--company", default=default, help="company name, in any case")
        parser.add_argument("--status", choices=TaskStatus.values, default=default)
        parser.add_argument("--all", action="store_true", default=default or False, help="finished tasks too")
        parser.add_argument("--limit", type=positive_int, default=default or 20)
        parser.add_argument("--json", action="store_true", default=default or False)

    def handle_list(self, options):
        tasks = ScheduledTask.objects.all()
        if not (options["all"] or options["status"]):
            tasks = tasks.filter(status__in=ACTIVE_TASK_STATUSES)
        tasks = self.in_company(tasks, options["company"])
        if options["status"]:
            tasks = tasks.filter(status=options["status"])
        tasks = list(tasks[: options["limit"]])
        if options["json"]:
            self.write_json([t.as_dict() for t in tasks])
            return
        if not tasks:
            self.stdout.write("No tasks.")
            return
        self.stdout.write(
            f"{'ID':>7}  {'CODEUNIT':<32} {'COMPANY':<16} {'STATUS':<10} {'NOT BEFORE':<19} "
            f"{'ATTEMPTS':>8} {'SESSION':>8}  ERROR"
        )
        for t in tasks:
            name = f"{t.codeunit_id} {t.codeunit_name}"
            session = t.session_id or ""
            self.stdout.write(
                f"{t.id:>7}  {name:<32} {t.company:<16} {t.status:<10} {when(t.not_before):<19} "
                f"{t.attempts:>8} {session:>8}  {first_line(t.error_message)}"
            )

    def _task(self, task_id) -> ScheduledTask:
        try:
            return api.get_task(task_id)
        except TaskNotFound as e:
            hint = id_hint(
                task_id,
                ScheduledTask.objects.filter(status__in=ACTIVE_TASK_STATUSES),
                noun="tasks that still exist",
                none="No task is waiting or running.",
                listing="`manage.py tasks`",
            )
            raise bad_input(str(e) + hint) from e

    def handle_cancel(self, options):
        task = self._task(options["id"])
        if not api.cancel_task(task.id):
            task = self._task(task.id)
            raise could_not(f"Task {task.id} has already finished: {task.status}.")
        message = f"Task {task.id} was cancelled."
        if task.status == TaskStatus.RUNNING and task.session_id:
            message += f" Its session {task.session_id} was asked to stop."
        self.stdout.write(message)

    def handle_ready(self, options):
        task = self._task(options["id"])
        if not api.set_task_ready(task.id, not_before=options["not_before"]):
            task = self._task(task.id)
            raise could_not(f"Task {task.id} has already started or finished: {task.status}.")
        task = self._task(task.id)
        self.stdout.write(f"Task {task.id} is ready, not before {when(task.not_before)}.")

    def handle_create(self, options):
        params = collect_params(options["param"])
        company = options["company"] or default_company()
        try:
            task_id = api.create_task(
                options["codeunit"],
                failure_codeunit=options["failure_codeunit"],
                ready=not options["not_ready"],
                company=company,
                not_before=options["not_before"],
                params=params,
                timeout=options["timeout"],
            )
        except SessionStartError as e:
            raise start_refused(
                e, codeunit=options["codeunit"], company=company, failure_codeunit=options["failure_codeunit"]
            ) from e
        task = api.get_task(task_id)
        if options["json"]:
            self.write_json(task.as_dict())
            return
        self.stdout.write(str(task.id))
        cu = f"{task.codeunit_id} {task.codeunit_name}"
        self.stdout.write(f"Task {task.id}: {cu} in {task.company} ({task.status}, not before {when(task.not_before)})")
