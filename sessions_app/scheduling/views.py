"""The job queue page: the current company's job queue entries and scheduled tasks, read-only.

Managing entries happens in the admin; this page is for watching them. Rows
come only from the current company, which the middleware picks among the
companies the user may work in; each list needs its model's view permission.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.http import require_GET

from sessions_app.access import can_access

from .models import ACTIVE_TASK_STATUSES, JobQueueEntry, ScheduledTask

MAX_ENTRIES = 500
MAX_ACTIVE_TASKS = 100
RECENT_TASKS = 20


@login_required
@require_GET
def jobs(request):
    may_see_entries = request.user.has_perm("sessions_scheduling.view_jobqueueentry")
    may_see_tasks = request.user.has_perm("sessions_scheduling.view_scheduledtask")
    if not (may_see_entries or may_see_tasks):
        raise PermissionDenied("You may not see the job queue.")
    company = request.company if request.company and can_access(request.user, request.company) else None
    context = {"company": company, "may_see_entries": may_see_entries, "may_see_tasks": may_see_tasks}
    if company is not None and may_see_entries:
        context["entries"] = list(JobQueueEntry.objects.filter(company=company.name).order_by("id")[:MAX_ENTRIES])
    if company is not None and may_see_tasks:
        tasks = ScheduledTask.objects.filter(company=company.name)
        # The ones still to come first, then the latest finished ones.
        context["tasks"] = [
            *tasks.filter(status__in=ACTIVE_TASK_STATUSES).order_by("not_before", "id")[:MAX_ACTIVE_TASKS],
            *tasks.exclude(status__in=ACTIVE_TASK_STATUSES).order_by("-id")[:RECENT_TASKS],
        ]
    return render(request, "sessions_app/jobs.html", context)
