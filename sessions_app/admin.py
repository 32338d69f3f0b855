"""The admin: a read-only session log with stop and re-run actions and buttons, and company access."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.template.defaultfilters import date as format_date
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from . import api, origins
from .access import can_access, companies_for, visible_company_filter
from .codeunits import registry
from .companies import all_companies
from .conf import app_settings
from .exceptions import SessionError, SessionStartError, UnknownCodeunit
from .forms import given_values, record_form, refusing_nul
from .models import BackgroundSession, CompanyAccess, RefusedTask, SessionEvent, SessionGroup, Status
from .notices import plural, ran_inline_message, session_links, started_messages
from .templatetags.sessions_format import duration, pretty_json

STATUS_COLOURS = {
    "succeeded": "#1a7f37",
    "failed": "#c62828",
    "timed_out": "#c62828",
    "lost": "#c62828",
    "running": "#0b5cad",
    "queued": "#8a6d00",
    "pending": "#8a6d00",
}
MAX_RERUN_LINKS = 20  # re-runs listed on a session's page
LIST_TIME_FORMAT = "Y-m-d H:i:s"  # short and unambiguous: a change list column, not a sentence
# A change list of the app gets the page's width: beside the navigation sidebar and the filters,
# a 1280 px screen leaves some 600 px for the table, too few for its columns on one line each.
# The breadcrumbs and the admin's home page still lead everywhere.
WIDE_LIST = {"is_nav_sidebar_enabled": False}


class SessionsModelAdmin(admin.ModelAdmin):
    """The base of the app's admins: every page refuses a NUL character in its input (``forms.refuse_nul``).

    Django's own list filters pass ``?company=%00`` to the database as it
    stands, which PostgreSQL refuses with an error (a 500) and SQLite takes.
    """

    def get_urls(self):
        return refusing_nul(super().get_urls())


def admin_session_link(session_id, text=None) -> str:
    url = reverse("admin:sessions_app_backgroundsession_change", args=[session_id])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else session_id)


def _when(value) -> str:
    return format_date(timezone.localtime(value), LIST_TIME_FORMAT) if value else ""


def task_path(session) -> str:
    """The import path of the ``@task`` function a "Django Task" session runs (``sessions_app.backends``), or ""."""
    if session.codeunit_id != app_settings.TASK_CODEUNIT_ID or not isinstance(session.params, dict):
        return ""
    path = session.params.get("task")
    return path if isinstance(path, str) else ""


class CappedCountPaginator(Paginator):
    """Count at most ``CAP`` rows: an exact count over a million-row registry costs more than the page."""

    CAP = 10_000

    @cached_property
    def count(self):
        return self.object_list[: self.CAP].count()


class CompanyFilter(admin.SimpleListFilter):
    """Companies from the settings, not a DISTINCT over the whole registry."""

    title = "company"
    parameter_name = "company"

    def lookups(self, request, model_admin):
        return [(c.name, c.name) for c in companies_for(request.user)]

    def queryset(self, request, queryset):
        return queryset.filter(company=self.value()) if self.value() else queryset


class CodeunitFilter(admin.SimpleListFilter):
    """Codeunits from the registry, not a DISTINCT over the whole registry."""

    title = "codeunit"
    parameter_name = "codeunit"

    def lookups(self, request, model_admin):
        return [(str(cu.id), f"{cu.id} {cu.name}") for cu in registry.all()]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(codeunit_id=int(value)) if value and value.isdigit() else queryset


class SessionEventInline(admin.TabularInline):
    model = SessionEvent
    fields = ("time", "kind", "message")
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
    verbose_name_plural = "events"

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="At")
    def time(self, obj):
        return format_date(timezone.localtime(obj.at), "Y-m-d H:i:s.u")[:-3]  # to the millisecond


@admin.register(BackgroundSession)
class BackgroundSessionAdmin(SessionsModelAdmin):
    """The session log: a change list that fits a laptop screen, and a read-only page per session.

    The page has Stop (while the session is active) and Re-run buttons; both post to the
    admin views below, which call ``api.request_stop`` and ``api.rerun_session`` as the user.
    """

    list_display = ("id", "codeunit", "company", "coloured_status", "started", "elapsed_display", "started_by")
    list_filter = ("status", CompanyFilter, CodeunitFilter, "mode")
    search_fields = ("=id", "=uuid", "codeunit_name", "username", "params__task")  # a @task's import path too
    inlines = [SessionEventInline]
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50
    actions = ["stop", "rerun", "rerun_inline", "rerun_edited"]
    change_list_template = "admin/sessions_app/backgroundsession/change_list.html"
    change_form_template = "admin/sessions_app/backgroundsession/change_form.html"

    def get_queryset(self, request):
        # Only the companies the user may work in; no join, so it stays fast on a large registry.
        return super().get_queryset(request).filter(**visible_company_filter(request.user))

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**WIDE_LIST, **(extra_context or {})})

    def get_formset_kwargs(self, request, obj, inline, prefix):
        """The events inline shows what the session's page shows: a bounded part of a long log."""
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, SessionEventInline) and obj is not None:
            shown, hidden = SessionEvent.objects.for_page(obj.id)
            kwargs["queryset"] = kwargs["queryset"].filter(pk__in=[e.pk for e in shown])
            if hidden:
                inline.verbose_name_plural = f"events (the first {len(shown)}; {hidden} more are too much for one page)"
        return kwargs

    # The session's page: read-only, in the order a person asks "what happened?".

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ("session_id",)})]
        session = ["session_id", "codeunit", "company", "started_by", "mode"]
        if self._origin(obj):
            session.append("started_from")
        if obj.rerun_of is not None:
            session.append("rerun_of_link")
        if self._reruns(obj):
            session.append("reruns")
        outcome = ["coloured_status"]
        if obj.is_waiting_for_company:
            outcome.append("waiting_for")
        if obj.error:
            outcome.append("error")
        if obj.error_type:
            outcome.append("error_type")
        if obj.status == Status.FAILED:  # "retriable" says nothing about a session that did not fail
            outcome.append("retriable_display")
        if obj.stop_requested_at or obj.stopped_by or obj.stop_comment:
            outcome.append("stopped")
        timing = ["created"]
        if obj.started_at:
            timing.append("started")
        if obj.finished_at:
            timing.append("finished")
        if obj.started_at:
            timing.append("elapsed_display")  # to now while it runs
        timing.append("timeout")
        fieldsets = [
            (None, {"fields": session}),
            ("Outcome", {"fields": outcome}),
            ("Timing", {"fields": timing}),
            ("Parameters", {"fields": ("parameters",)}),
        ]
        if obj.result is not None:
            fieldsets.append(("Result", {"fields": ("formatted_result",)}))
        if obj.traceback:
            fieldsets.append(("Traceback", {"fields": ("formatted_traceback",)}))
        fieldsets.append(
            (
                "Details",
                {
                    "classes": ("collapse",),
                    "fields": (
                        "uuid",
                        "worker",
                        "task_id",
                        "fetched_by",
                        "key",
                        "origin",
                        "progress",
                        "queued",
                        "heartbeat",
                    ),
                },
            )
        )
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [name for _, options in self.get_fieldsets(request, obj) for name in options["fields"]]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(
                can_stop=obj.is_active and self.has_stop_permission(request),
                can_rerun=self.has_rerun_permission(request),
                stop_url=reverse("admin:sessions_app_backgroundsession_stop", args=[obj.pk]),
                rerun_url=reverse("admin:sessions_app_backgroundsession_rerun", args=[obj.pk]),
                session_page_url=reverse("sessions_app:session", args=[obj.pk]),
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Columns and fields.

    @admin.display(description="Codeunit", ordering="codeunit_id")
    def codeunit(self, obj):
        """The codeunit; under "Django Task", the ``@task`` function it ran (a long path wraps, the name does not)."""
        name = f"{obj.codeunit_id} {obj.codeunit_name}"
        path = task_path(obj)
        return format_html('{}<br><small class="task-path">{}</small>', name, path) if path else name

    @admin.display(description="Status", ordering="status")
    def coloured_status(self, obj):
        colour = STATUS_COLOURS.get(obj.status, "#555")
        pct = obj.progress_percent if obj.status == Status.RUNNING else None
        return format_html(
            '<b style="color:{}">{}</b>{}',
            colour,
            obj.status_label,  # as the web pages say it: "Waiting for the company database"
            "" if pct is None else f" {pct}%",
        )

    @admin.display(description="Waiting for")
    def waiting_for(self, obj):
        """The session that holds the company's database while this one waits for it (SQLite)."""
        holder = obj.company_holder()
        if holder is None:
            return f"another writer (no session) holds {obj.company}"
        return format_html(
            "{} ({}), which holds {}",
            admin_session_link(holder.id, f"Session {holder.id}"),
            holder.codeunit_name,
            obj.company,
        )

    @admin.display(description="Started", ordering="started_at")
    def started(self, obj):
        return _when(obj.started_at)

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj):
        return _when(obj.created_at)

    @admin.display(description="Queued")
    def queued(self, obj):
        return _when(obj.queued_at)

    @admin.display(description="Finished", ordering="finished_at")
    def finished(self, obj):
        return _when(obj.finished_at)

    @admin.display(description="Last heartbeat")
    def heartbeat(self, obj):
        return _when(obj.heartbeat_at)

    @admin.display(description="Elapsed")
    def elapsed_display(self, obj):
        return duration(obj.elapsed)

    @admin.display(description="ID")
    def session_id(self, obj):
        return obj.id

    @admin.display(description="User", ordering="username")
    def started_by(self, obj):
        return obj.username

    @admin.display(description="Progress")
    def progress(self, obj):
        pct = obj.progress_percent
        text = "" if pct is None else f"{pct}%"
        if obj.progress_total:
            text += f" ({obj.progress_done or 0} of {obj.progress_total})"
        return f"{text} {obj.progress_message}".strip()

    @admin.display(description="Retriable", boolean=True)
    def retriable_display(self, obj):
        return obj.retriable

    @admin.display(description="Stopped by")
    def stopped(self, obj):
        parts = [obj.stopped_by or "(no user)"]
        if obj.stop_requested_at:
            parts.append(f"at {_when(obj.stop_requested_at)}")
        text = " ".join(parts)
        return f"{text}: {obj.stop_comment}" if obj.stop_comment else text

    @admin.display(description="Started from")
    def started_from(self, obj):
        return self._origin(obj)

    def _origin(self, obj) -> str:
        # The page asks for its fieldsets several times: look what started the session up once.
        if not hasattr(obj, "_admin_origin"):
            obj._admin_origin = origins.describe(obj)
        return obj._admin_origin

    @admin.display(description="Re-run of")
    def rerun_of_link(self, obj):
        return admin_session_link(obj.rerun_of, f"Session {obj.rerun_of}") if obj.rerun_of is not None else ""

    @admin.display(description="Re-runs")
    def reruns(self, obj):
        return format_html_join(
            ", ",
            "{} ({})",
            ((admin_session_link(s.id, f"Session {s.id}"), s.get_status_display()) for s in self._reruns(obj)),
        )

    def _reruns(self, obj) -> list[BackgroundSession]:
        # A re-run is always newer than its session: the primary key bounds the search.
        if not hasattr(obj, "_admin_reruns"):
            obj._admin_reruns = list(
                BackgroundSession.objects.filter(pk__gt=obj.pk, rerun_of=obj.pk)
                .only("id", "status")
                .order_by("id")[:MAX_RERUN_LINKS]
            )
        return obj._admin_reruns

    @admin.display(description="Parameters")
    def parameters(self, obj):
        return format_html('<pre class="sessions-json">{}</pre>', pretty_json(obj.params))

    @admin.display(description="Result")
    def formatted_result(self, obj):
        return (
            format_html('<pre class="sessions-json">{}</pre>', pretty_json(obj.result))
            if obj.result is not None
            else ""
        )

    @admin.display(description="Traceback")
    def formatted_traceback(self, obj):
        return format_html('<pre class="sessions-traceback">{}</pre>', obj.traceback) if obj.traceback else ""

    # Permissions: the log is read-only; stopping and re-running have permissions of their own.

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_stop_permission(self, request):
        return request.user.has_perm("sessions_app.stop_session")

    def has_rerun_permission(self, request):
        return request.user.has_perm("sessions_app.rerun_session") and request.user.has_perm(
            "sessions_app.start_session"
        )

    # The buttons of a session's page.

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/stop/", view(self.stop_view), name="sessions_app_backgroundsession_stop"),
            path("<path:object_id>/rerun/", view(self.rerun_view), name="sessions_app_backgroundsession_rerun"),
            *super().get_urls(),
        ]

    def _button_session(self, request, object_id, allowed: bool) -> BackgroundSession:
        if not (allowed and self.has_view_permission(request)):
            raise PermissionDenied
        session = self.get_object(request, unquote(object_id))  # only the user's companies
        if session is None:
            raise Http404(f"No session {object_id}.")
        return session

    def _back_to(self, session_id):
        return HttpResponseRedirect(reverse("admin:sessions_app_backgroundsession_change", args=[session_id]))

    @method_decorator(require_POST)
    def stop_view(self, request, object_id):
        session = self._button_session(request, object_id, self.has_stop_permission(request))
        comment = request.POST.get("comment", "").strip() or "stopped from the admin"
        result = api.request_stop(session.id, comment=comment, user=request.user)
        if not result:
            self.message_user(request, f"Could not stop session {session.id}: {result.reason}", messages.WARNING)
        elif result.status == Status.CANCELLED:
            self.message_user(request, f"Cancelled session {session.id} before it started.", messages.SUCCESS)
        else:
            self.message_user(request, f"Asked session {session.id} to stop.", messages.SUCCESS)
        return self._back_to(session.id)

    @method_decorator(require_POST)
    def rerun_view(self, request, object_id):
        session = self._button_session(request, object_id, self.has_rerun_permission(request))
        try:
            again = api.rerun_session(session.id, user=request.user)
        except SessionError as e:
            self.message_user(request, f"Could not re-run session {session.id}: {e}", messages.ERROR)
            return self._back_to(session.id)
        for message in started_messages([again]):
            self.message_user(request, message, messages.SUCCESS)
        return self._back_to(again.id)

    # Actions on the selected sessions.

    @admin.action(permissions=["stop"], description="Stop selected sessions")
    def stop(self, request, queryset):
        cancelled, stopping = [], []
        for session in queryset:
            result = api.request_stop(session.id, comment="stopped from the admin", user=request.user)
            if not result:
                self.message_user(request, f"Could not stop session {session.id}: {result.reason}", messages.WARNING)
            else:
                (cancelled if result.status == Status.CANCELLED else stopping).append(session)
        if cancelled:
            self.message_user(
                request,
                format_html(
                    "Cancelled {} before {} started: {}.",
                    plural(len(cancelled), "session"),
                    "it" if len(cancelled) == 1 else "they",
                    session_links(cancelled),
                ),
                messages.SUCCESS,
            )
        if stopping:
            self.message_user(
                request,
                format_html("Asked {} to stop: {}.", plural(len(stopping), "session"), session_links(stopping)),
                messages.SUCCESS,
            )

    def _rerun(self, request, queryset, debug: bool):
        started = []
        for session in queryset:
            try:
                again = api.rerun_session(session.id, user=request.user, debug=debug)
            except SessionStartError as e:
                self.message_user(request, f"Could not re-run session {session.id}: {e}", messages.ERROR)
                continue
            if debug:
                level = messages.SUCCESS if again.status == Status.SUCCEEDED else messages.ERROR
                self.message_user(request, ran_inline_message(again, f"session {session.id}", verb="Re-ran"), level)
            else:
                started.append(again)
        for message in started_messages(started):
            self.message_user(request, message, messages.SUCCESS)

    @admin.action(permissions=["rerun"], description="Re-run selected sessions (same parameters)")
    def rerun(self, request, queryset):
        self._rerun(request, queryset, debug=False)

    @admin.action(permissions=["rerun"], description="Re-run selected sessions inline (debug)")
    def rerun_inline(self, request, queryset):
        self._rerun(request, queryset, debug=True)

    @admin.action(permissions=["rerun"], description="Re-run with edited parameters…")
    def rerun_edited(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one session to re-run with edited parameters.", messages.WARNING)
            return None
        session = queryset.get()
        try:
            cu = registry.get(session.codeunit_id)
        except UnknownCodeunit as e:
            self.message_user(request, str(e), messages.ERROR)
            return None
        # Values a default factory made (a new GUID) are made anew for the re-run: not pre-filled.
        generated = api.generated_values(session)
        initial = {name: value for name, value in session.params.items() if name not in generated}
        form = record_form(cu, request.POST if "apply" in request.POST else None, initial=initial)
        if "apply" in request.POST and form.is_valid():
            params = given_values(form)
            try:
                again = api.rerun_session(session.id, user=request.user, params=params)
            except SessionStartError as e:
                self.message_user(request, f"Could not re-run session {session.id}: {e}", messages.ERROR)
                return None
            for message in started_messages([again]):
                self.message_user(request, message, messages.SUCCESS)
            return None
        return render(
            request,
            "admin/sessions_app/params_form.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Re-run session {session.id} ({cu.name}) with edited parameters",
                "form": form,
                "objects": [session],
                "action": "rerun_edited",
                "opts": self.model._meta,
            },
        )


MAX_MEMBER_LINKS = 200  # members listed on a group's page in the admin; the app's group page lists them all


@admin.register(SessionGroup)
class SessionGroupAdmin(SessionsModelAdmin):
    """Groups of sessions: read-only, with stop and a re-run of the members that did not succeed."""

    list_display = ("id", "name", "coloured_status", "progress_display", "policy", "completion_display", "created")
    list_filter = ("status", "policy")
    search_fields = ("=id", "name")
    fields = (
        "id",
        "name",
        "coloured_status",
        "policy",
        "progress_display",
        "message",
        "completion_display",
        "then_display",
        "username",
        "created",
        "decided",
        "members",
    )
    readonly_fields = fields
    actions = ["stop", "rerun_failed"]
    paginator = CappedCountPaginator
    show_full_result_count = False

    def get_queryset(self, request):
        """Only groups all of whose members work in companies the user may work in."""
        visible = visible_company_filter(request.user)
        groups = super().get_queryset(request)
        if not visible:
            return groups
        elsewhere = BackgroundSession.objects.filter(group_id__isnull=False).exclude(**visible)
        return groups.exclude(pk__in=elsewhere.values("group_id")).filter(
            Q(then_company="") | Q(then_company__in=[c.name for c in companies_for(request.user)])
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is None and self.has_view_permission(request)  # the actions need it; nothing is edited

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("sessions_app.view_backgroundsession") and (
            obj is None or all(can_access(request.user, company) for company in obj.companies())
        )

    def has_stop_permission(self, request):
        return request.user.has_perm("sessions_app.stop_session")

    def has_rerun_permission(self, request):
        return request.user.has_perm("sessions_app.rerun_session") and request.user.has_perm(
            "sessions_app.start_session"
        )

    @admin.display(description="Status", ordering="status")
    def coloured_status(self, obj):
        colour = STATUS_COLOURS.get(obj.status, "#555")
        return format_html('<b style="color:{}">{}</b>', colour, obj.get_status_display())

    @admin.display(description="Ended")
    def progress_display(self, obj):
        done, total = obj.progress()
        return f"{done} of {total}"

    @admin.display(description="Completion")
    def completion_display(self, obj):
        return admin_session_link(obj.completion_id, f"Session {obj.completion_id}") if obj.completion_id else ""

    @admin.display(description="Then")
    def then_display(self, obj):
        return f"{obj.then_codeunit_id} {obj.then_codeunit_name} in {obj.then_company}" if obj.then_codeunit_id else ""

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj):
        return _when(obj.created_at)

    @admin.display(description="Decided", ordering="decided_at")
    def decided(self, obj):
        return _when(obj.decided_at)

    @admin.display(description="Members")
    def members(self, obj):
        rows = obj.final_members()[:MAX_MEMBER_LINKS]
        page = reverse("sessions_app:group", args=[obj.id])
        return format_html(
            '{}<br><a href="{}">All members on the group\'s page</a>',
            format_html_join(
                ", ", "{} {}", ((admin_session_link(s.id, f"Session {s.id}"), s.get_status_display()) for s in rows)
            ),
            page,
        )

    @admin.action(permissions=["stop"], description="Stop the selected groups")
    def stop(self, request, queryset):
        stopped = [g.id for g in queryset if api.stop_group(g.id, user=request.user)]
        self.message_user(request, f"Stopped {plural(len(stopped), 'group')}: {', '.join(map(str, stopped)) or '-'}.")

    @admin.action(permissions=["rerun"], description="Re-run the members that did not succeed")
    def rerun_failed(self, request, queryset):
        again = []
        for group in queryset:
            for member in group.final_members():
                if member.is_finished and member.status != Status.SUCCEEDED:
                    try:
                        again.append(api.rerun_session(member.id, user=request.user))
                    except SessionStartError as e:
                        self.message_user(request, f"Session {member.id}: {e}", messages.ERROR)
        for message in started_messages(again):
            self.message_user(request, message, messages.SUCCESS)
        if not again:
            self.message_user(request, "No member of the selected groups needs a re-run.", messages.INFO)


@admin.register(RefusedTask)
class RefusedTaskAdmin(SessionsModelAdmin):
    list_display = ("at", "broker", "func", "reason")
    list_filter = ("broker",)
    readonly_fields = list_display

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def company_choices():
    """The companies, after a blank choice: a form shows no company chosen until one is."""
    return [("", "---------"), *((c.name, c.name) for c in all_companies())]


class CompanyAccessForm(forms.ModelForm):
    """One company a user may work in.

    The choice starts blank: a browser selects a select's first option, so without the blank one an
    untouched extra row of the user's inline would grant the first company, on adding the user and
    again (a duplicate) on every later save.
    """

    company = forms.ChoiceField(choices=company_choices)

    class Meta:
        model = CompanyAccess
        fields = ("user", "company")


@admin.register(CompanyAccess)
class CompanyAccessAdmin(SessionsModelAdmin):
    form = CompanyAccessForm
    list_display = ("user", "company")
    list_filter = ("company",)
    search_fields = ("user__username", "company")


class CompanyAccessInline(admin.TabularInline):
    """The companies a user may work in, for a project's own user admin to include (``inlines``).

    The app leaves the project's ``UserAdmin`` alone; without this inline, access is
    edited on its own admin page (Company access).
    """

    model = CompanyAccess
    form = CompanyAccessForm
    extra = 1


class CompanyScopedAdmin(SessionsModelAdmin):
    """Admin for a company-scoped model: it shows and edits the current company's rows.

    With no current company (a user who may work in none) the model is hidden.
    """

    def _has_company(self, request) -> bool:
        return getattr(request, "company", None) is not None

    def has_module_permission(self, request):
        return self._has_company(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._has_company(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return self._has_company(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return self._has_company(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._has_company(request) and super().has_delete_permission(request, obj)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "title": f"{self.model._meta.verbose_name_plural.capitalize()} in {request.company}",
        }
        return super().changelist_view(request, extra_context)
