"""Web views. Every state change is a POST; a GET never starts anything."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from . import api
from .companies import get_company
from .exceptions import SessionNotFound, UnknownCompany
from .middleware import SESSION_KEY
from .models import BackgroundSession


@login_required
@require_GET
def dashboard(request):
    sessions = BackgroundSession.objects.all()
    status = request.GET.get("status")
    if status:
        sessions = sessions.filter(status=status)
    page = Paginator(sessions, 25).get_page(request.GET.get("page"))
    return render(request, "sessions_app/dashboard.html", {"page": page, "status": status})


@login_required
@require_GET
def session_status(request, session_id: int):
    try:
        s = api.get_session(session_id)
    except SessionNotFound:
        return JsonResponse({"error": f"Session {session_id} does not exist."}, status=404)
    return JsonResponse(
        {
            "id": s.id,
            "uuid": str(s.uuid),
            "codeunit": s.codeunit_name,
            "company": s.company,
            "status": s.status,
            "progress": s.progress_percent,
            "elapsed": s.elapsed.total_seconds() if s.elapsed else None,
            "error": s.error,
        }
    )


@login_required
@require_POST
def switch_company(request):
    try:
        company = get_company(request.POST.get("company", ""))
    except UnknownCompany as e:
        return HttpResponseBadRequest(str(e))
    request.session[SESSION_KEY] = company.name
    messages.info(request, f"Company is now {company.name}.")
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    return redirect(target)
