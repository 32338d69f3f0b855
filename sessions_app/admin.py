"""A read-only session log in the admin."""

from django.contrib import admin
from django.utils.html import format_html

from .models import BackgroundSession, SessionEvent

STATUS_COLOURS = {
    "succeeded": "#1a7f37",
    "failed": "#c62828",
    "timed_out": "#c62828",
    "lost": "#c62828",
    "running": "#0b5cad",
    "queued": "#8a6d00",
    "pending": "#8a6d00",
}


class SessionEventInline(admin.TabularInline):
    model = SessionEvent
    fields = ("at", "kind", "message")
    readonly_fields = fields
    extra = 0
    can_delete = False

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
    list_filter = ("status", "company", "codeunit_name", "mode")
    search_fields = ("=id", "=uuid", "codeunit_name", "username")
    readonly_fields = [f.name for f in BackgroundSession._meta.fields if f.name != "traceback"] + [
        "formatted_traceback"
    ]
    exclude = ("traceback",)
    inlines = [SessionEventInline]
    show_full_result_count = False

    @admin.display(description="Codeunit", ordering="codeunit_id")
    def codeunit(self, obj):
        return f"{obj.codeunit_id} {obj.codeunit_name}"

    @admin.display(description="Status", ordering="status")
    def coloured_status(self, obj):
        return format_html(
            '<b style="color:{}">{}</b>', STATUS_COLOURS.get(obj.status, "#555"), obj.get_status_display()
        )

    @admin.display(description="Progress")
    def progress(self, obj):
        pct = obj.progress_percent
        return "" if pct is None else f"{pct}%"

    @admin.display(description="Elapsed")
    def elapsed_display(self, obj):
        return obj.elapsed or ""

    @admin.display(description="Traceback")
    def formatted_traceback(self, obj):
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", obj.traceback) if obj.traceback else ""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
