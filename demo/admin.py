"""Admin for the seed's company-scoped tables, and the seed's Customer List actions."""

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.shortcuts import render

from sessions_app import api
from sessions_app.admin import CompanyAccessInline, CompanyScopedAdmin
from sessions_app.codeunits import get_codeunit
from sessions_app.exceptions import SessionStartError
from sessions_app.forms import record_form
from sessions_app.notices import plural, ran_inline_message, started_messages

from .models import Customer, SessionLog, Vendor

# The seed's The Works (50100) always changes the first customer: on selected customers the actions run
# its twin, which changes the customer it is given.
WORKS_ON_A_CUSTOMER = 50101
FILLED_PER_ROW = ("customer_no", "log_id")  # the customer's own number; a new GUID each run


@admin.register(Customer)
class CustomerAdmin(CompanyScopedAdmin):
    list_display = ("no", "name", "address")
    search_fields = ("no", "name")
    actions = ["run_the_works", "run_the_works_inline"]

    def has_start_session_permission(self, request):
        return request.user.has_perm("sessions_app.start_session")

    def _the_works(self, request, queryset, debug: bool):
        """Ask for the Vendor No., then run The Works on each selected customer, one session each."""
        cu = get_codeunit(WORKS_ON_A_CUSTOMER)
        form = record_form(cu, request.POST if "apply" in request.POST else None, exclude=FILLED_PER_ROW)
        if "apply" not in request.POST or not form.is_valid():
            customers = list(queryset)
            return render(
                request,
                "admin/sessions_app/params_form.html",
                {
                    **self.admin_site.each_context(request),
                    "title": f"{'Run inline (debug)' if debug else 'Run in the background'}: {cu.name}",
                    "explanation": (
                        f"{cu.id} {cu.name} sets each selected customer's address to its own No. and the "
                        f"Vendor No. below: {plural(len(customers), 'session')}, one per customer. (The seed's "
                        "50100 The Works changes the first customer, whichever is selected: it runs from the "
                        "customer list and its start page.)"
                    ),
                    "form": form,
                    "objects": customers,
                    "action": "run_the_works_inline" if debug else "run_the_works",
                    "opts": self.model._meta,
                },
            )
        started = []
        for customer in queryset:
            params = {**{k: v for k, v in form.cleaned_data.items() if v not in (None, "")}, "customer_no": customer.no}
            try:
                session = api.start_session(cu, company=request.company, params=params, user=request.user, debug=debug)
            except SessionStartError as e:
                self.message_user(request, f"Could not start {cu.name} for customer {customer.no}: {e}", messages.ERROR)
                continue
            if debug:
                level = messages.SUCCESS if session.status == "succeeded" else messages.ERROR
                self.message_user(request, ran_inline_message(session, f"{cu.name} ({customer.no})"), level)
            else:
                started.append(session)
        for message in started_messages(started):  # "Started The Works for a Customer in 3 sessions: 4, 5, 6."
            self.message_user(request, message, messages.SUCCESS)
        return None

    @admin.action(permissions=["start_session"], description="Run The Works for a Customer on each selected customer")
    def run_the_works(self, request, queryset):
        return self._the_works(request, queryset, debug=False)

    @admin.action(
        permissions=["start_session"],
        description="Run The Works for a Customer on each selected customer, inline (debug)",
    )
    def run_the_works_inline(self, request, queryset):
        return self._the_works(request, queryset, debug=True)


@admin.register(Vendor)
class VendorAdmin(CompanyScopedAdmin):
    list_display = ("no", "name")
    search_fields = ("no", "name")


@admin.register(SessionLog)
class SessionLogAdmin(CompanyScopedAdmin):
    list_display = ("id", "session_id", "result", "start_time", "stop_time", "elapsed")
    readonly_fields = list_display

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def hide_tasks_db_admin() -> None:
    """Take django-tasks-db's "Task results" out of the demo's admin.

    It is installed only for the benchmark's peer (the same ``@task`` on its database backend); the
    demo's tasks are sessions, in the session log. Its ``admin`` module is imported first, so it has
    registered already and its later discovery adds nothing back.
    """
    if not apps.is_installed("django_tasks_db"):
        return
    import django_tasks_db.admin  # noqa: F401  (registers its model now, once)
    from django_tasks_db.models import DBTaskResult

    if admin.site.is_registered(DBTaskResult):
        admin.site.unregister(DBTaskResult)


hide_tasks_db_admin()


# The demo edits company access on the user's own page: the project opts into the app's inline.
User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class DemoUserAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, CompanyAccessInline]
