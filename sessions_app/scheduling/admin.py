"""The admin of the task scheduler and the job queue.

Tasks are created by code (``api.create_task``), so their admin is a
read-only list with cancel and set-ready actions. Job queue entries are
managed here, per current company, like Business Central's Job Queue Entries
page: a new or changed entry is on hold until "Set ready". Every state change
goes through the API's conditional updates, never a plain ``save()`` of a row
the dispatcher may be moving at the same time.
"""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import render
from django.template.defaultfilters import date as format_date
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from sessions_app import api as sessions
from sessions_app.admin import LIST_TIME_FORMAT, STATUS_COLOURS, WIDE_LIST, CompanyScopedAdmin
from sessions_app.codeunits import registry
from sessions_app.conf import app_settings
from sessions_app.exceptions import RecordValidationError, SessionError
from sessions_app.forms import given_values, record_form
from sessions_app.notices import plural, ran_inline_message, started_messages
from sessions_app.templatetags.sessions_format import pretty_json

from . import api
from .models import JobQueueEntry, JobQueueLogEntry, JobStatus, ScheduledTask
from .views import chosen_codeunit, codeunit_choices, fetches_card, outcome_label

COLOURS = {
    **STATUS_COLOURS,
    "ready": "#8a6d00",
    "waiting": "#8a6d00",
    "in_process": "#0b5cad",
    "error": "#c62828",
    "success": "#1a7f37",
    "finished": "#1a7f37",
}
RECENT_RUNS = 10


def coloured(obj) -> str:
    return format_html('<b style="color:{}">{}</b>', COLOURS.get(obj.status, "#555"), obj.get_status_display())


def session_link(session_id) -> str:
    return format_html('<a href="{}">{}</a>', reverse("sessions_app:session", args=[session_id]), session_id)


def _when(value) -> str:
    return format_date(timezone.localtime(value), LIST_TIME_FORMAT) if value else ""


def _ids(objects) -> str:
    return ", ".join(str(o.id) for o in objects)


class CompanyListAdmin(CompanyScopedAdmin):
    """A change list of the current company's rows, on the page's whole width, one line per row."""

    change_list_template = "admin/sessions_scheduling/change_list.html"

    def get_queryset(self, request):
        company = getattr(request, "company", None)
        queryset = super().get_queryset(request)
        return queryset.filter(company=company.name) if company is not None else queryset.none()

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**WIDE_LIST, **(extra_context or {})})


class CodeunitAndStatus:
    """The codeunit, coloured status and error columns every row of the scheduler shows alike."""

    @admin.display(description="Error")
    def error(self, obj):
        return obj.error_message[:120]

    @admin.display(description="Codeunit", ordering="codeunit_id")
    def codeunit(self, obj):
        return f"{obj.codeunit_id} {obj.codeunit_name}"

    @admin.display(description="Status", ordering="status")
    def coloured_status(self, obj):
        return coloured(obj)


# Scheduled tasks.


@admin.register(ScheduledTask)
class ScheduledTaskAdmin(CodeunitAndStatus, CompanyListAdmin):
    """The current company's scheduled tasks, like its job queue entries: switch company to see another's."""

    list_display = (
        "id",
        "codeunit",
        "coloured_status",
        "not_before_display",
        "attempts",
        "session",
        "failure_session",
        "username_display",
        "error",
    )
    list_filter = ("status",)
    search_fields = ("=id", "codeunit_name", "username")
    fieldsets = [
        (
            None,
            {
                "fields": (
                    "id",
                    "codeunit",
                    "failure_codeunit",
                    "company",
                    "coloured_status",
                    "not_before",
                    "attempts",
                    "username",
                    "timeout",
                    "created_at",
                    "claimed_at",
                    "finished_at",
                )
            },
        ),
        ("Sessions", {"fields": ("session", "failure_session")}),
        ("Parameters", {"fields": ("parameters",)}),
        ("Error", {"fields": ("error_message", "error_type", "formatted_traceback", "failure_error")}),
    ]
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]
    list_per_page = 50
    actions = ["cancel", "set_ready"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # The change permission is what the actions need; no task is edited through a form.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Not before", ordering="not_before")
    def not_before_display(self, obj):
        return _when(obj.not_before)

    @admin.display(description="User", ordering="username")
    def username_display(self, obj):
        return obj.username

    @admin.display(description="Failure codeunit")
    def failure_codeunit(self, obj):
        return f"{obj.failure_codeunit_id} {obj.failure_codeunit_name}" if obj.failure_codeunit_id else ""

    @admin.display(description="Session")
    def session(self, obj):
        return session_link(obj.session_id) if obj.session_id else ""

    @admin.display(description="Failure session")
    def failure_session(self, obj):
        return session_link(obj.failure_session_id) if obj.failure_session_id else ""

    @admin.display(description="Parameters")
    def parameters(self, obj):
        return format_html("<pre>{}</pre>", pretty_json(obj.params))

    @admin.display(description="Traceback")
    def formatted_traceback(self, obj):
        tb = obj.error_traceback
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", tb) if tb else ""

    def _each(self, request, queryset, change, done: str, not_done: str):
        """Apply ``change(task_id, user=...)`` to each task; say in one sentence which took and in one which did not.

        ``done`` and ``not_done`` are formats with ``{tasks}``: "Cancelled {tasks}".
        """
        took, refused = [], []
        for task in queryset:
            (took if change(task.id, user=request.user) else refused).append(task)
        if took:
            self.message_user(
                request, f"{done.format(tasks=plural(len(took), 'task'))}: {_ids(took)}.", messages.SUCCESS
            )
        if refused:
            self.message_user(
                request, f"{not_done.format(tasks=plural(len(refused), 'task'))}: {_ids(refused)}.", messages.WARNING
            )

    @admin.action(permissions=["change"], description="Cancel selected tasks")
    def cancel(self, request, queryset):
        self._each(
            request, queryset, api.cancel_task, "Cancelled {tasks}", "Could not cancel {tasks} (finished already)"
        )

    @admin.action(permissions=["change"], description="Set selected tasks ready")
    def set_ready(self, request, queryset):
        self._each(
            request,
            queryset,
            api.set_task_ready,
            "Set {tasks} ready",
            "Could not set {tasks} ready (started or finished already)",
        )


# Job queue entries.


class JobQueueEntryForm(forms.ModelForm):
    """An entry's settings and schedule; its parameters are the chosen codeunit's card, as on the job queue page.

    The card is the codeunit's generated record form (``params_form``), checked by its record and stored
    with only the values given: a generated one (a new GUID) is left out, so each run makes its own.
    """

    codeunit = forms.TypedChoiceField(coerce=int, choices=codeunit_choices)

    class Meta:
        model = JobQueueEntry
        fields = (
            "description",
            "codeunit",
            "category",
            "timeout",
            "earliest_start",
            "expires_at",
            *JobQueueEntry.WEEKDAY_FIELDS,
            "starting_time",
            "ending_time",
            "minutes_between_runs",
            "cron",
            "max_attempts",
            "rerun_delay",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["codeunit"].initial = self.instance.codeunit_id
        else:  # the first codeunit shows selected: its card shows with it
            self.fields["codeunit"].initial = next((cu.id for cu in registry.all()), None)
        fetches_card(self.fields["codeunit"])
        self.chosen = chosen_codeunit(self["codeunit"].value())
        self.params_form = None
        if self.chosen is not None:
            stored = self.instance.params if self.chosen.id == self.instance.codeunit_id else None
            self.params_form = record_form(self.chosen, self.data if self.is_bound else None, initial=stored)

    def clean_category(self):
        return self.cleaned_data["category"].strip().upper()  # as api.add_job stores it

    def clean_timeout(self):
        timeout = self.cleaned_data["timeout"]
        if timeout is not None and not 1 <= timeout.total_seconds() <= app_settings.MAX_TIMEOUT.total_seconds():
            bounds = sessions.timeout_bounds()
            raise forms.ValidationError(f"{bounds[0].upper()}{bounds[1:]}.")
        return timeout

    def clean(self):
        data = super().clean()
        if self.instance.pk and self.instance.status == JobStatus.IN_PROCESS:
            raise forms.ValidationError("The entry is in process; wait for it to finish.")
        if data.get("codeunit") is None or self.params_form is None:
            return data
        cu, params = self.chosen, self.params_form
        self.instance.codeunit_id, self.instance.codeunit_name = cu.id, cu.name
        if params.is_valid():
            try:
                self.instance.params = cu.params.validate(given_values(params)).to_json(generated=False)
            except RecordValidationError as e:
                for name, errors in e.errors.items():
                    params.add_error(name if name in params.fields else None, errors)
        if params.errors:
            self.add_error(None, f"Check the parameters of {cu.id} {cu.name} below.")
        return data


# What saving a change may write: the form's model fields and the codeunit it names.
EDITABLE_FIELDS = (
    *(f for f in JobQueueEntryForm.Meta.fields if f != "codeunit"),
    "codeunit_id",
    "codeunit_name",
    "params",
)


@admin.register(JobQueueEntry)
class JobQueueEntryAdmin(CodeunitAndStatus, CompanyListAdmin):
    form = JobQueueEntryForm
    change_form_template = "admin/sessions_scheduling/jobqueueentry/change_form.html"
    list_display = (
        "id",
        "description",
        "codeunit",
        "status_and_attempts",
        "next_run",
        "recurrence",
        "last_run",
        "username_display",
    )
    list_display_links = ("id", "description")
    list_filter = ("status", "category")
    search_fields = ("description", "codeunit_name")
    fieldsets = [
        (None, {"fields": ("description", "codeunit", "category", "timeout")}),
        (
            "Schedule",
            {
                "fields": (
                    "earliest_start",
                    "expires_at",
                    JobQueueEntry.WEEKDAY_FIELDS,
                    ("starting_time", "ending_time"),
                    "minutes_between_runs",
                    "cron",
                )
            },
        ),
        ("Retries", {"fields": ("max_attempts", "rerun_delay")}),
    ]
    status_fieldset = (
        "Status",
        {
            "fields": (
                "company",
                "coloured_status",
                "recurrence",
                "username",
                ("attempts", "run_count"),
                "last_session",
                "last_outcome",
                "last_finished_at",
                "error_message",
                "stored_params",
                "recent_runs",
            )
        },
    )
    # What the status fieldset shows is read only (a pair on one line is two fields).
    readonly_fields = tuple(
        name for f in status_fieldset[1]["fields"] for name in (f if isinstance(f, tuple) else (f,))
    )
    actions = ["set_ready", "set_on_hold", "run_now", "run_now_inline", "show_error", "restart"]

    def get_fieldsets(self, request, obj=None):
        return self.fieldsets if obj is None else [*self.fieldsets, self.status_fieldset]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # The admin shows and adds the current company's entries only: say which.
        context["entry_company"] = obj.company if obj is not None else request.company.name
        return super().render_change_form(request, context, add, change, form_url, obj)

    def has_delete_permission(self, request, obj=None):
        in_process = obj is not None and obj.status == JobStatus.IN_PROCESS
        return not in_process and super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.company = request.company.name
            obj.status = JobStatus.ON_HOLD
            obj.user, obj.username = request.user, request.user.get_username()
            obj.save()
            return
        # Only the edited fields, and not while it runs: the dispatcher owns status, run count and session.
        updated = JobQueueEntry.objects.edit(obj.pk, **{name: getattr(obj, name) for name in EDITABLE_FIELDS})
        was_ready = obj.status in (JobStatus.READY, JobStatus.WAITING)
        obj.refresh_from_db()
        if not updated:
            self.message_user(request, f"Entry {obj.id} was not changed: it went in process meanwhile.", messages.ERROR)
        elif was_ready:
            self.message_user(
                request, f"Entry {obj.id} is on hold now: set it ready to plan its next run.", messages.WARNING
            )

    @admin.display(description="Status", ordering="status")
    def status_and_attempts(self, obj):
        if not obj.attempts:
            return coloured(obj)
        return format_html(
            '{} <span title="failed runs in a row, of at most {}">{}/{}</span>',
            coloured(obj),
            obj.max_attempts,
            obj.attempts,
            obj.max_attempts,
        )

    @admin.display(description="Next run", ordering="earliest_start")
    def next_run(self, obj):
        # To the minute: when it is planned, not when it happened.
        return format_date(timezone.localtime(obj.earliest_start), "Y-m-d H:i") if obj.earliest_start else ""

    @admin.display(description="User", ordering="username")
    def username_display(self, obj):
        return obj.username

    @admin.display(description="Last run")
    def last_run(self, obj):
        if not obj.session_id:
            return ""
        if not obj.last_outcome:
            return session_link(obj.session_id)
        colour = COLOURS.get(obj.last_outcome, "#555")
        return format_html(
            '{} <span style="color:{}">{}</span>', session_link(obj.session_id), colour, outcome_label(obj.last_outcome)
        )

    @admin.display(description="Recurrence")
    def recurrence(self, obj):
        return obj.describe_recurrence()

    @admin.display(description="Last session")
    def last_session(self, obj):
        return session_link(obj.session_id) if obj.session_id else ""

    @admin.display(description="Stored parameters")
    def stored_params(self, obj):
        return format_html("<pre>{}</pre>", pretty_json(obj.params))

    @admin.display(description="Latest runs")
    def recent_runs(self, obj):
        if obj.pk is None:
            return ""
        runs = JobQueueLogEntry.objects.filter(entry_id=obj.pk).order_by("-id")[:RECENT_RUNS]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    _when(r.started_at),
                    coloured(r),
                    _when(r.finished_at),
                    session_link(r.session_id) if r.session_id else "",
                    r.error_message[:200],
                )
                for r in runs
            ),
        )
        url = reverse("admin:sessions_scheduling_jobqueuelogentry_changelist") + f"?entry__id__exact={obj.pk}"
        return format_html(
            '<table id="recent-runs"><tr><th>Started</th><th>Status</th><th>Finished</th><th>Session</th>'
            '<th>Error</th></tr>{}</table><a href="{}">All runs of this entry</a>',
            rows,
            url,
        )

    def _each(self, request, queryset, change, done: str, verb: str):
        """Apply ``change(entry_id, user=...)`` to each entry; a refusal is a message, never a 500.

        ``done`` is a format with ``{entries}`` ("Set {entries} ready"), ``verb`` what a refusal could not do.
        """
        took = []
        for entry in queryset:
            try:
                change(entry.id, user=request.user)
            except SessionError as e:
                self.message_user(request, f"Could not {verb} entry {entry.id}: {e}", messages.ERROR)
            else:
                took.append(entry)
        if took:
            entries = plural(len(took), "entry", "entries")
            self.message_user(request, f"{done.format(entries=entries)}: {_ids(took)}.", messages.SUCCESS)

    @admin.action(permissions=["change"], description="Set selected entries ready")
    def set_ready(self, request, queryset):
        self._each(request, queryset, api.set_job_ready, "Set {entries} ready", "set ready")

    @admin.action(permissions=["change"], description="Set selected entries on hold")
    def set_on_hold(self, request, queryset):
        self._each(request, queryset, api.set_job_on_hold, "Put {entries} on hold", "put on hold")

    @admin.action(permissions=["change"], description="Restart selected entries (attempts and error cleared)")
    def restart(self, request, queryset):
        self._each(request, queryset, api.restart_job, "Restarted {entries}", "restart")

    def _run_now(self, request, queryset, debug: bool):
        started = []
        for entry in queryset:
            try:
                session = api.run_job_now(entry.id, user=request.user, debug=debug)
            except SessionError as e:
                self.message_user(request, f"Could not run entry {entry.id}: {e}", messages.ERROR)
                continue
            if not debug:
                started.append(session)
                continue
            self.message_user(
                request,
                ran_inline_message(session, f"{session.codeunit_name} (entry {entry.id})"),
                messages.SUCCESS if session.status == "succeeded" else messages.ERROR,
            )
        for message in started_messages(started):
            self.message_user(request, message, messages.SUCCESS)

    @admin.action(permissions=["change"], description="Run selected entries now in the background")
    def run_now(self, request, queryset):
        self._run_now(request, queryset, debug=False)

    @admin.action(permissions=["change"], description="Run selected entries now inline (debug)")
    def run_now_inline(self, request, queryset):
        self._run_now(request, queryset, debug=True)

    @admin.action(permissions=["view"], description="Show the error of selected entries")
    def show_error(self, request, queryset):
        return render(
            request,
            "admin/sessions_app/job_errors.html",
            {
                **self.admin_site.each_context(request),
                "title": "Job queue entry errors",
                "entries": list(queryset),
                "opts": self.model._meta,
            },
        )


# Job queue log entries.


@admin.register(JobQueueLogEntry)
class JobQueueLogEntryAdmin(CodeunitAndStatus, CompanyListAdmin):
    list_display = (
        "id",
        "job",
        "coloured_status",
        "started",
        "finished",
        "error",
        "session",
    )
    list_filter = ("status",)
    readonly_fields = (
        "job",
        "company",
        "codeunit",
        "description",
        "coloured_status",
        "username",
        "started",
        "finished",
        "session",
        "error_message",
        "formatted_traceback",
    )
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Entry", ordering="entry_id")
    def job(self, obj):
        """The entry, and under its description the codeunit it ran: one column less, so the list fits 1280 px."""
        what = obj.description or obj.codeunit_name
        if obj.entry_id is not None:
            url = reverse("admin:sessions_scheduling_jobqueueentry_change", args=[obj.entry_id])
            what = format_html('<a href="{}">{} {}</a>', url, obj.entry_id, what)
        if not obj.description:
            return what
        return format_html("{}<br><small>{}</small>", what, self.codeunit(obj))

    @admin.display(description="Started", ordering="started_at")
    def started(self, obj):
        return _when(obj.started_at)

    @admin.display(description="Finished", ordering="finished_at")
    def finished(self, obj):
        return _when(obj.finished_at)

    @admin.display(description="Session")
    def session(self, obj):
        return session_link(obj.session_id) if obj.session_id else ""

    @admin.display(description="Traceback")
    def formatted_traceback(self, obj):
        tb = obj.error_traceback
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", tb) if tb else ""
