"""The job queue page: the current company's job queue entries and scheduled tasks, its actions and an add form.

Rows come only from the current company, which the middleware picks among the
companies the user may work in; each list needs its model's view permission.
Every change is a POST with CSRF, checked as the admin checks its actions: the
model's change (or add) permission, an entry of the current company (another
company's entry is a 404, as the admin's company-scoped list does not offer it),
and then the scheduling API's own permission and company checks, whose refusals
become messages, never a 500.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sessions_app.access import can_access
from sessions_app.codeunits import registry
from sessions_app.exceptions import SessionError, SessionStartError, UnknownCodeunit
from sessions_app.forms import given_values, record_form, timeout_field
from sessions_app.notices import started_messages

from . import api, clock
from .models import ACTIVE_TASK_STATUSES, JobLogStatus, JobQueueEntry, JobStatus, ScheduledTask, TaskStatus
from .recurrence import MAX_MINUTES, WEEKDAY_NAMES

MAX_ENTRIES = 500
MAX_ACTIVE_TASKS = 100
RECENT_TASKS = 20
CHANGE_PERM = "sessions_scheduling.change_jobqueueentry"
ADD_PERM = "sessions_scheduling.add_jobqueueentry"
# How often the page's tables look for changes: often while something on them runs or is about to,
# seldom otherwise (another tab may set an entry ready), as the dashboard does.
ACTIVE_POLL = "2s"
IDLE_POLL = "10s"
DUE_SOON = timedelta(seconds=10)  # a ready entry or task due this soon counts as running
CSRF_VALUE = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*"')  # masked anew on every render


# The entry actions: what the admin's actions of the same names do, one entry at a time.


@dataclass(frozen=True)
class EntryAction:
    label: str
    change: Any  # the scheduling API's function: change(entry_id, user=...)
    verb: str  # what a refusal could not do: "Could not {verb} entry 3: ..."
    done: str  # what it did: a format with {id}
    applies_to: tuple[str, ...]  # the statuses it is offered for


ENTRY_ACTIONS = {
    "set_ready": EntryAction(
        "Set ready",
        api.set_job_ready,
        "set ready",
        "Set entry {id} ready.",
        (JobStatus.ON_HOLD, JobStatus.FINISHED),
    ),
    "set_on_hold": EntryAction(
        "Put on hold",
        api.set_job_on_hold,
        "put on hold",
        "Put entry {id} on hold.",
        (JobStatus.READY, JobStatus.WAITING, JobStatus.ERROR),
    ),
    "run_now": EntryAction(
        "Run now",
        api.run_job_now,
        "run",
        "",  # the started session says it
        (JobStatus.READY, JobStatus.WAITING, JobStatus.ON_HOLD, JobStatus.ERROR, JobStatus.FINISHED),
    ),
    "restart": EntryAction(
        "Restart",
        api.restart_job,
        "restart",
        "Restarted entry {id}: attempts and error cleared, ready.",
        (JobStatus.ERROR,),
    ),
}


def outcome_label(value: str) -> str:
    """A last outcome as people read it ("Success"), as the log of runs says it, not its stored value."""
    return dict(JobLogStatus.choices).get(value, value.capitalize())


def actions_for(entry: JobQueueEntry) -> list[tuple[str, str]]:
    """The actions (name, label) offered for ``entry`` in its status; none while it is in process."""
    return [(name, action.label) for name, action in ENTRY_ACTIONS.items() if entry.status in action.applies_to]


# The add form.


def codeunit_choices():
    return [(cu.id, str(cu)) for cu in registry.all()]


def fetches_card(field) -> None:
    """Make choosing a codeunit in ``field`` fetch its parameter card: the page's add form and the admin's share it."""
    field.widget.attrs.update(
        {
            "hx-get": reverse("sessions_scheduling:job_params"),
            "hx-target": "#job-params",
            "hx-trigger": "change",
            "hx-swap": "innerHTML",
        }
    )


class AddEntryForm(forms.Form):
    """A new entry's settings: the arguments ``api.add_job`` takes, except the parameters (the card beside it)."""

    company = forms.CharField(widget=forms.HiddenInput)  # the company the page showed: the entry goes there
    codeunit = forms.TypedChoiceField(coerce=int, choices=codeunit_choices)
    description = forms.CharField(max_length=250, required=False)
    category = forms.CharField(max_length=20, required=False, help_text="entries of one category run one at a time")
    ready = forms.BooleanField(
        required=False, label="Set ready", help_text="runs as scheduled; otherwise it is added on hold"
    )
    earliest_start = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="empty: as soon as it is ready",
    )
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="it never starts after this",
    )
    weekdays = forms.MultipleChoiceField(
        required=False,
        choices=[(name, name.capitalize()) for name in WEEKDAY_NAMES],
        widget=forms.CheckboxSelectMultiple,
        help_text="none: it runs once",
    )
    starting_time = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    ending_time = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    minutes_between_runs = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_MINUTES, help_text="empty: once a day, at the starting time"
    )
    cron = forms.CharField(max_length=100, required=False, help_text="a cron expression, instead of weekdays and times")
    max_attempts = forms.IntegerField(min_value=1, max_value=32767, initial=3, help_text="runs tried before an error")
    rerun_delay = forms.IntegerField(
        min_value=0, initial=60, label="Rerun delay (seconds)", help_text="before a failed run is tried again"
    )

    SECTIONS = (
        ("Entry", ("codeunit", "description", "category", "timeout", "ready")),
        (
            "Schedule",
            (
                "earliest_start",
                "expires_at",
                "weekdays",
                "starting_time",
                "ending_time",
                "minutes_between_runs",
                "cron",
            ),
        ),
        ("Retries", ("max_attempts", "rerun_delay")),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timeout"] = timeout_field("of each run (default: 12 hours)")
        fetches_card(self.fields["codeunit"])

    def sections(self):
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS]


# Where add_job's errors go: the weekday flags to the weekdays field, every other entry field to itself.
ENTRY_ERROR_FIELDS = {name: "weekdays" for name in JobQueueEntry.WEEKDAY_FIELDS} | {
    name: name for _, names in AddEntryForm.SECTIONS for name in names if name not in ("codeunit", "ready")
}


def chosen_codeunit(value):
    """The registered codeunit ``value`` names (an id, from a form or a query string), or None."""
    try:
        return registry.get(int(value))
    except (TypeError, ValueError, UnknownCodeunit):
        return None


def _may_edit(user) -> bool:
    """May add or change entries: either form shows parameter cards."""
    return user.has_perm(ADD_PERM) or user.has_perm(CHANGE_PERM)


def _may_add(user) -> bool:
    return user.has_perm(ADD_PERM) and user.has_perm("sessions_app.start_session")


def _current_company(request):
    company = getattr(request, "company", None)
    return company if company is not None and can_access(request.user, company) else None


# The page.


def is_active(entries, tasks, now) -> bool:
    """Is anything shown running, or due so soon that it is about to change?"""
    soon = now + DUE_SOON
    return any(
        e.status in (JobStatus.IN_PROCESS, JobStatus.WAITING)
        or (e.status == JobStatus.READY and (e.earliest_start is None or e.earliest_start <= soon))
        for e in entries
    ) or any(t.status == TaskStatus.RUNNING or (t.status == TaskStatus.READY and t.not_before <= soon) for t in tasks)


def _live_context(request, company) -> dict:
    """The tables of entries and tasks, rendered, with how often they look again and a digest of what they show."""
    context = {
        "company": company,
        "may_see_entries": request.user.has_perm("sessions_scheduling.view_jobqueueentry"),
        "may_see_tasks": request.user.has_perm("sessions_scheduling.view_scheduledtask"),
        "may_change": request.user.has_perm(CHANGE_PERM),
        "entries": [],
        "tasks": [],
    }
    if company is not None and context["may_see_entries"]:
        entries = list(JobQueueEntry.objects.filter(company=company.name).order_by("id")[:MAX_ENTRIES])
        for e in entries:
            e.actions = actions_for(e) if context["may_change"] else []
            e.outcome_label = outcome_label(e.last_outcome)
        context["entries"] = entries
    if company is not None and context["may_see_tasks"]:
        tasks = ScheduledTask.objects.filter(company=company.name)
        # The ones still to come first, then the latest finished ones.
        context["tasks"] = [
            *tasks.filter(status__in=ACTIVE_TASK_STATUSES).order_by("not_before", "id")[:MAX_ACTIVE_TASKS],
            *tasks.exclude(status__in=ACTIVE_TASK_STATUSES).order_by("-id")[:RECENT_TASKS],
        ]
    poll_every = ACTIVE_POLL if is_active(context["entries"], context["tasks"], clock.now()) else IDLE_POLL
    tables = render_to_string("sessions_app/_jobs_tables.html", context, request) if company is not None else ""
    seen = CSRF_VALUE.sub(r'\1"', tables) + poll_every
    context.update(
        tables=mark_safe(tables),  # noqa: S308  (rendered by the template engine above, escaped there)
        poll_every=poll_every,
        shown=hashlib.sha256(seen.encode()).hexdigest()[:16],
    )
    return context


def _page(request, company, add_form=None, params=None, status=200):
    context = {**_live_context(request, company), "may_add": _may_add(request.user)}
    if company is not None and context["may_add"]:
        if add_form is None:
            cu = chosen_codeunit(request.GET.get("codeunit")) or next(iter(registry.all()), None)
            add_form = AddEntryForm(initial={"company": company.name, "codeunit": cu.id if cu else None})
            params = record_form(cu) if cu is not None else None
        context.update(add_form=add_form, params=params, cu=chosen_codeunit(add_form["codeunit"].value()))
    return render(request, "sessions_app/jobs.html", context, status=status)


def _may_see_jobs(user) -> None:
    if not (
        user.has_perm("sessions_scheduling.view_jobqueueentry")
        or user.has_perm("sessions_scheduling.view_scheduledtask")
    ):
        raise PermissionDenied("You may not see the job queue.")


@login_required
@require_GET
def jobs(request):
    _may_see_jobs(request.user)
    return _page(request, _current_company(request))


@login_required
@require_GET
def jobs_live(request):
    """The page's tables, when they show something else than the page has (``?shown=``); else 204, nothing to swap."""
    _may_see_jobs(request.user)
    context = _live_context(request, _current_company(request))
    if request.GET.get("shown") == context["shown"]:
        return HttpResponse(status=204)
    return render(request, "sessions_app/_jobs_live.html", context)


@login_required
@require_GET
def job_params(request):
    """The parameter card of the codeunit chosen in an entry's form (the page's, the admin's), as on its start page."""
    if not _may_edit(request.user):
        raise PermissionDenied("You may not add or change job queue entries.")
    cu = chosen_codeunit(request.GET.get("codeunit"))
    if cu is None:
        raise Http404("No such codeunit.")
    return render(request, "sessions_app/_job_params.html", {"cu": cu, "params": record_form(cu)})


@login_required
@require_http_methods(["GET", "POST"])
def add_entry(request):
    if request.method == "GET":  # a reload of a page with errors: back to the job queue
        return redirect("sessions_scheduling:jobs")
    if not _may_add(request.user):  # add_job needs both: the entry's and starting its sessions
        raise PermissionDenied("You may not add job queue entries.")
    company = _current_company(request)
    if company is None:
        raise PermissionDenied("You may not work in any company.")
    form = AddEntryForm(request.POST)
    cu = chosen_codeunit(request.POST.get("codeunit"))
    params = record_form(cu, request.POST) if cu is not None else None
    form_ok = form.is_valid()
    params_ok = params is not None and params.is_valid()
    if form_ok and form.cleaned_data["company"] != company.name:
        # Another tab switched company since this page was shown: adding to the new one would surprise.
        form.add_error(
            None,
            f"The current company is {company.name} now, not {form.cleaned_data['company']}: "
            "check the entry and add it again.",
        )
        form.data = form.data.copy()
        form.data["company"] = company.name
        form_ok = False
    if form_ok and params_ok:
        data = form.cleaned_data
        try:
            entry = api.add_job(
                cu,
                company=company.name,
                params=given_values(params),
                description=data["description"],
                ready=data["ready"],
                earliest_start=data["earliest_start"],
                expires_at=data["expires_at"],
                weekdays=data["weekdays"] or None,
                starting_time=data["starting_time"],
                ending_time=data["ending_time"],
                minutes_between_runs=data["minutes_between_runs"],
                cron=data["cron"],
                max_attempts=data["max_attempts"],
                rerun_delay=data["rerun_delay"],
                category=data["category"],
                timeout=data["timeout"],
                user=request.user,
            )
        except SessionStartError as e:
            for field, errors in e.errors.items():
                if field in ENTRY_ERROR_FIELDS:
                    form.add_error(ENTRY_ERROR_FIELDS[field], errors)
                elif field in params.fields:
                    params.add_error(field, errors)
                else:
                    form.add_error(None, errors)
            if not e.errors:
                form.add_error(None, str(e))
        else:
            what = f"Added entry {entry.id} ({entry.codeunit_name}) to {company.name}"
            if entry.status == JobStatus.ON_HOLD:
                messages.success(request, f"{what}, on hold: set it ready to run it as scheduled.")
            else:
                messages.success(request, f"{what}, ready.")
            return redirect(f"{reverse('sessions_scheduling:jobs')}#job-{entry.id}")
    return _page(request, company, add_form=form, params=params, status=400)


@login_required
@require_POST
def entry_action(request, entry_id: int, action: str):
    """Set ready, put on hold, run now or restart one entry of the current company."""
    act = ENTRY_ACTIONS.get(action)
    if act is None:
        raise Http404(f"No action {action!r}.")
    if not request.user.has_perm(CHANGE_PERM):
        raise PermissionDenied("You may not change job queue entries.")
    company = _current_company(request)
    entry = JobQueueEntry.objects.filter(pk=entry_id, company=company.name).first() if company else None
    if entry is None:
        raise Http404(f"Job queue entry {entry_id} does not exist in the current company.")
    jobs_url = f"{reverse('sessions_scheduling:jobs')}#job-{entry.id}"
    if entry.status not in act.applies_to:
        messages.warning(request, f"Could not {act.verb} entry {entry.id}: it is {entry.get_status_display()}.")
        return redirect(jobs_url)
    try:
        result = act.change(entry.id, user=request.user)
    except SessionError as e:
        messages.error(request, f"Could not {act.verb} entry {entry.id}: {e}")
        return redirect(jobs_url)
    if action == "run_now":
        for message in started_messages([result]):
            messages.success(request, message)
    else:
        messages.success(request, act.done.format(id=entry.id))
    return redirect(jobs_url)
