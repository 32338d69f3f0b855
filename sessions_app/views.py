"""Web views. Every state change is a POST with CSRF; a GET never starts or stops anything.

Each view checks login, its permission and the user's access to the company
of what it touches; a session in a company the user may not see is a 404.
The health probes alone answer without a login: their details (which
database, which session) need staff or ``SESSIONS_HEALTH_TOKEN``.
"""

import hmac
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import api, health, origins
from .access import can_access, visible_company_filter
from .codeunits import registry
from .conf import app_settings
from .exceptions import GroupNotFound, SessionStartError, UnknownCodeunit
from .forms import StartOptionsForm, given_values, record_form
from .middleware import SESSION_KEY
from .models import ACTIVE_STATUSES, BackgroundSession, SessionEvent, Status

PAGE_SIZE = 25
ACTIVE_POLL = "1s"  # how often the dashboard refreshes while a session it shows is active
IDLE_POLL = "10s"  # and while none is
view_required = permission_required("sessions_app.view_backgroundsession", raise_exception=True)


class LoginView(auth_views.LoginView):
    """Sign in to the web pages: any active user, staff or not (the admin's login admits staff only)."""

    template_name = "sessions_app/login.html"
    next_page = reverse_lazy("sessions_app:dashboard")
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """Sign out (a POST, as Django requires); back to the login page with a message."""

    next_page = reverse_lazy("sessions_app:login")

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You have signed out.")
        return response


def visible_sessions(user):
    return BackgroundSession.objects.filter(**visible_company_filter(user))


def visible_session(user, session_id) -> BackgroundSession | None:
    """The session, if it exists and ``user`` may see its company (URLs and forms take any digits)."""
    number = api.parse_session_id(session_id)
    return None if number is None else visible_sessions(user).filter(pk=number).first()


def _session_or_404(request, session_id) -> BackgroundSession:
    session = visible_session(request.user, session_id)
    if session is None:
        raise Http404(f"Session {session_id} does not exist.")
    return session


def _dashboard_context(request):
    sessions = visible_sessions(request.user)
    company = request.GET.get("company", "")
    status = request.GET.get("status", "")
    if company:
        if not can_access(request.user, company):
            raise Http404(f"Company {company!r} does not exist.")
        sessions = sessions.filter(company=company)
    if status not in Status.values:
        status = ""  # a status that does not exist filters nothing: the page shows every session
    if status:
        sessions = sessions.filter(status=status)
    active = list(sessions.active()[:100])
    # No count(*) over the registry: "next" is known by fetching one row more.
    page = _page_number(request)
    # "Not active" rather than "status in (six finished statuses)": the planner then walks the
    # primary key backwards and stops after one page, instead of sorting every finished row.
    finished = sessions.exclude(status__in=ACTIVE_STATUSES)
    recent = list(finished[(page - 1) * PAGE_SIZE : page * PAGE_SIZE + 1])
    return {
        "active": active,
        "recent": recent[:PAGE_SIZE],
        "page": page,
        "has_next": len(recent) > PAGE_SIZE,
        "company": company,
        "status": status,
        "statuses": Status.choices,
        "query": urlencode(
            {k: v for k, v in (("company", company), ("status", status), ("page", page if page > 1 else "")) if v}
        ),
        # Poll often while something runs; seldom when only finished sessions are shown.
        "poll_every": ACTIVE_POLL if active else IDLE_POLL,
    }


def _page_number(request) -> int:
    try:
        return max(1, min(int(request.GET.get("page", 1)), 10_000))
    except ValueError:
        return 1


@login_required
@view_required
@require_GET
def dashboard(request):
    return render(request, "sessions_app/dashboard.html", _dashboard_context(request))


@login_required
@view_required
@require_GET
def dashboard_table(request):
    return render(request, "sessions_app/_dashboard_table.html", _dashboard_context(request))


@login_required
@view_required
@require_GET
def session_detail(request, session_id: int):
    session = _session_or_404(request, session_id)
    return render(
        request, "sessions_app/session.html", {**_session_context(session), "origin": origins.describe(session)}
    )


@login_required
@view_required
@require_GET
def session_live(request, session_id: int):
    session = _session_or_404(request, session_id)
    return render(request, "sessions_app/_session_live.html", _session_context(session))


def _session_context(session):
    events, hidden = SessionEvent.objects.for_page(session.id)
    log = [e for e in events if e.kind == SessionEvent.Kind.LOG]
    return {"s": session, "events": events, "log": log, "hidden_events": hidden}


@login_required
@view_required
@require_GET
def session_status(request, session_id: int):
    session = visible_session(request.user, session_id)
    if session is None:
        return JsonResponse({"error": f"Session {session_id} does not exist."}, status=404)
    data = session.as_dict()
    data.pop("traceback")
    data["progress_percent"] = session.progress_percent
    data["url"] = reverse("sessions_app:session", args=[session.id])
    return JsonResponse(data)


@require_GET
@never_cache
def health_view(request):
    """Readiness: 200 when sessions can run here, else 503 (``health.py``); the details for staff or a token."""
    result = health.check()
    body = {"status": "ok" if result.ok else "unavailable", "checks": {c.name: c.ok for c in result.checks}}
    if _may_see_health_details(request):
        body["reason"] = result.reason
        body["details"] = {c.name: c.detail for c in result.checks}
    return JsonResponse(body, status=200 if result.ok else 503)


@require_GET
@never_cache
def liveness_view(request):
    """Liveness: this web process answers (no database asked, so a database outage restarts no web process)."""
    return JsonResponse({"status": "ok"})


def _may_see_health_details(request) -> bool:
    token = app_settings.HEALTH_TOKEN
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        return request.user.is_staff  # reads the session: the control database may be what is down
    except DatabaseError:
        return False


@login_required
@require_POST
def stop(request, session_id: int):
    session = _session_or_404(request, session_id)
    if not request.user.has_perm("sessions_app.stop_session"):
        raise PermissionDenied("You may not stop sessions.")
    result = api.request_stop(session.id, comment=request.POST.get("comment", "")[:500], user=request.user)
    if not result:
        messages.error(request, result.reason)
    elif result.status != Status.RUNNING:  # cancelled before it started: true for as long as the page shows it
        messages.success(request, result.reason)
    # A running session's live part says "Stop requested" until it has stopped, then "Stopped": a
    # message ("Session 7 is stopping.") would stay on the page after the stop it announced.
    return redirect("sessions_app:session", session.id)


@login_required
@require_POST
def rerun(request, session_id: int):
    session = _session_or_404(request, session_id)
    if not (
        request.user.has_perm("sessions_app.rerun_session") and request.user.has_perm("sessions_app.start_session")
    ):
        raise PermissionDenied("You may not re-run sessions.")
    try:
        again = api.rerun_session(session.id, user=request.user, debug=request.POST.get("debug") == "1")
    except SessionStartError as e:
        messages.error(request, str(e))
        return redirect("sessions_app:session", session.id)
    messages.success(
        request, f"Started {again.codeunit_name} in session {again.id} (a re-run of session {session.id})."
    )
    return redirect("sessions_app:session", again.id)


@login_required
@require_GET
def codeunit_list(request):
    rows = [(cu, cu.params.describe()) for cu in registry.all()]
    return render(request, "sessions_app/codeunits.html", {"rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def codeunit_start(request, codeunit_id: int):
    try:
        cu = registry.get(codeunit_id)
    except UnknownCodeunit:
        raise Http404(f"Codeunit {codeunit_id} is not registered.") from None
    if not request.user.has_perm("sessions_app.start_session"):
        raise PermissionDenied("You may not start sessions.")
    data = request.POST if request.method == "POST" else None
    options = StartOptionsForm(data, user=request.user, current_company=request.company)
    params = record_form(cu, data)
    status = 200
    if request.method == "POST":
        if options.is_valid() and params.is_valid():
            try:
                session = api.start_session(
                    cu,
                    company=options.cleaned_data["company"],
                    params=given_values(params),
                    timeout=options.cleaned_data["timeout"],
                    debug=options.cleaned_data["debug"],
                    user=request.user,
                )
            except SessionStartError as e:
                for field, errors in e.errors.items():
                    form = params if field in params.fields else options
                    form.add_error(field if field in form.fields else None, errors)
                if not e.errors:
                    options.add_error(None, str(e))
            else:
                messages.success(request, f"Started {cu.name} in session {session.id}.")
                return redirect("sessions_app:session", session.id)
        status = 400
    return render(request, "sessions_app/start.html", {"cu": cu, "options": options, "params": params}, status=status)


@login_required
@require_POST
def switch_company(request):
    name = request.POST.get("company", "")
    if not can_access(request.user, name):
        raise PermissionDenied(f"You may not work in company {name!r}.")
    request.session[SESSION_KEY] = name
    messages.info(request, f"Company is now {name}.")
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    return redirect(target)


# Groups: a page per group, live while it runs.


def _group_or_404(request, group_id):
    """The group, if it exists and the user may work in every company of its members and its completion."""
    try:
        group = api.get_group(group_id)
    except GroupNotFound:
        raise Http404(f"Group {group_id} does not exist.") from None
    if not all(can_access(request.user, company) for company in group.companies()):
        raise Http404(f"Group {group_id} does not exist.")
    return group


def _group_context(group):
    members = group.final_members()
    completion = BackgroundSession.objects.filter(pk=group.completion_id).first() if group.completion_id else None
    return {
        "g": group,
        "members": members,
        "done": sum(1 for s in members if s.is_finished),
        "completion": completion,
        "live": not group.is_decided or (completion is not None and completion.is_active),
    }


@login_required
@view_required
@require_GET
def group_detail(request, group_id: int):
    group = _group_or_404(request, group_id)
    return render(request, "sessions_app/group.html", _group_context(group))


@login_required
@view_required
@require_GET
def group_live(request, group_id: int):
    group = _group_or_404(request, group_id)
    return render(request, "sessions_app/_group_live.html", _group_context(group))


@login_required
@require_POST
def stop_group(request, group_id: int):
    group = _group_or_404(request, group_id)
    if not request.user.has_perm("sessions_app.stop_session"):
        raise PermissionDenied("You may not stop sessions.")
    if not api.stop_group(group.id, user=request.user):
        messages.error(request, f"Group {group.id} has already ended: {group.get_status_display().lower()}.")
    return redirect("sessions_app:group", group.id)
