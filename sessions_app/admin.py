"""The admin: a read-only session log with stop and re-run actions, and company access."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from . import api
from .access import companies_for, visible_company_filter
from .codeunits import registry
from .companies import all_companies
from .exceptions import SessionStartError, UnknownCodeunit
from .forms import record_form
from .models import BackgroundSession, CompanyAccess, RefusedTask, SessionEvent

STATUS_COLOURS = {
    "succeeded": "#1a7f37",
    "failed": "#c62828",
    "timed_out": "#c62828",
    "lost": "#c62828",
    "running": "#0b5cad",
    "queued": "#8a6d00",
    "pending": "#8a6d00",
}


def session_links(sessions) -> str:
    return format_html_join(
        ", ", '<a href="{}">{}</a>', ((reverse("sessions_app:session", args=[s.id]), s.id) for s in sessions)
    )


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
    fields = ("at", "kind", "message")
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(BackgroundSession)
class BackgroundSessionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "codeunit",
        "company",
        "username",
        "mode",
        "coloured_status",
        "progress",
        "started_at",
        "elapsed_display",
    )
    list_filter = ("status", CompanyFilter, CodeunitFilter, "mode")
    search_fields = ("=id", "=uuid", "codeunit_name", "username")
    readonly_fields = [
        f.name for f in BackgroundSession._meta.fields if f.name not in ("traceback", "params", "result")
    ]
    readonly_fields += ["parameters", "formatted_result", "formatted_traceback"]
    exclude = ("traceback", "params", "result")
    inlines = [SessionEventInline]
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50
    actions = ["stop", "rerun", "rerun_inline", "rerun_edited"]

    def get_queryset(self, request):
        # Only the companies the user may work in; no join, so it stays fast on a large registry.
        return super().get_queryset(request).filter(**visible_company_filter(request.user))

    @admin.display(description="Codeunit", ordering="codeunit_id")
    def codeunit(self, obj):
        return f"{obj.codeunit_id} {obj.codeunit_name}"

    @admin.display(description="Status", ordering="status")
    def coloured_status(self, obj):
        colour = STATUS_COLOURS.get(obj.status, "#555")
        return format_html('<b style="color:{}">{}</b>', colour, obj.get_status_display())

    @admin.display(description="Progress")
    def progress(self, obj):
        pct = obj.progress_percent
        return "" if pct is None else f"{pct}%"

    @admin.display(description="Elapsed")
    def elapsed_display(self, obj):
        return obj.elapsed or ""

    @admin.display(description="Parameters")
    def parameters(self, obj):
        return format_html("<pre>{}</pre>", _pretty(obj.params))

    @admin.display(description="Result")
    def formatted_result(self, obj):
        return format_html("<pre>{}</pre>", _pretty(obj.result)) if obj.result is not None else ""

    @admin.display(description="Traceback")
    def formatted_traceback(self, obj):
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", obj.traceback) if obj.traceback else ""

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

    @admin.action(permissions=["stop"], description="Stop selected sessions")
    def stop(self, request, queryset):
        for session in queryset:
            result = api.request_stop(session.id, comment="stopped from the admin", user=request.user)
            self.message_user(request, result.reason, messages.SUCCESS if result else messages.WARNING)

    def _rerun(self, request, queryset, debug: bool):
        started = []
        for session in queryset:
            try:
                again = api.rerun_session(session.id, user=request.user, debug=debug)
            except SessionStartError as e:
                self.message_user(request, f"Session {session.id}: {e}", messages.ERROR)
                continue
            started.append(again)
            if debug:
                level = messages.SUCCESS if again.status == "succeeded" else messages.ERROR
                detail = f": {again.error}" if again.error else ""
                self.message_user(
                    request,
                    format_html(
                        "Session {} re-run inline as {}: {}{}", session.id, session_links([again]), again.status, detail
                    ),
                    level,
                )
        if started and not debug:
            self.message_user(request, format_html("Started sessions {}.", session_links(started)), messages.SUCCESS)

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
        initial = {
            name: value
            for name, value in session.params.items()
            if name not in cu.params.fields or not callable(cu.params.fields[name].default)
        }
        form = record_form(cu, request.POST if "apply" in request.POST else None, initial=initial)
        if "apply" in request.POST and form.is_valid():
            params = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
            try:
                again = api.rerun_session(session.id, user=request.user, params=params)
            except SessionStartError as e:
                self.message_user(request, str(e), messages.ERROR)
                return None
            self.message_user(request, format_html("Started session {}.", session_links([again])), messages.SUCCESS)
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


@admin.register(RefusedTask)
class RefusedTaskAdmin(admin.ModelAdmin):
    list_display = ("at", "broker", "func", "reason")
    list_filter = ("broker",)
    readonly_fields = list_display

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _pretty(value) -> str:
    return json.dumps(value, indent=2, default=str)


class CompanyAccessForm(forms.ModelForm):
    company = forms.ChoiceField(choices=lambda: [(c.name, c.name) for c in all_companies()])

    class Meta:
        model = CompanyAccess
        fields = ("user", "company")


@admin.register(CompanyAccess)
class CompanyAccessAdmin(admin.ModelAdmin):
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


class CompanyScopedAdmin(admin.ModelAdmin):
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
