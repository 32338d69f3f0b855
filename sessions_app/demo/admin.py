"""Admin for the seed's company-scoped tables: each shows the current company's rows."""

from django.contrib import admin

from .models import Customer, SessionLog, Vendor


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("no", "name", "address")
    search_fields = ("no", "name")


@admin.register(Vendor)
class VendorAdmin(admin.ModelAdmin):
    list_display = ("no", "name")
    search_fields = ("no", "name")


@admin.register(SessionLog)
class SessionLogAdmin(admin.ModelAdmin):
    list_display = ("id", "session_id", "result", "start_time", "stop_time", "elapsed")
    readonly_fields = list_display

    def has_add_permission(self, request):
        return False
