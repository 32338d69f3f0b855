"""The seed's page: the Customer List with a "Start The Works" button.

Unlike the seed's OnOpenPage, opening the page starts nothing; the button
POSTs, and the page follows the session live instead of sleeping 10 seconds.
"""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from sessions_app import api
from sessions_app.companies import use_company
from sessions_app.exceptions import SessionStartError
from sessions_app.views import visible_session

from .models import Customer, SessionLog

SESSION_FINISHED = "session-finished"  # the htmx event the status fragment sends once its session has finished


def _require_company(request):
    if request.company is None:
        raise PermissionDenied("You may not work in any company.")


@login_required
@require_GET
def customer_list(request):
    _require_company(request)
    if not request.user.has_perm("demo.view_customer"):
        raise PermissionDenied("You may not see customers.")
    session = visible_session(request.user, request.GET["session"]) if "session" in request.GET else None
    return render(request, "demo/customers.html", {"customers": Customer.objects.all()[:200], "session": session})


@login_required
@require_POST
def start_the_works(request):
    _require_company(request)
    try:
        session = api.start_session(
            "The Works",
            company=request.company,
            params={
                "customer_no": request.POST.get("customer_no", "hello"),
                "vendor_no": request.POST.get("vendor_no", "world"),
            },
            user=request.user,
        )
    except SessionStartError as e:
        if e.reason == "permission_denied":
            raise PermissionDenied(str(e)) from e
        messages.error(request, str(e))
        return redirect("demo:customers")
    return redirect(f"{reverse('demo:customers')}?session={session.id}")


RECALCULATE_SLICES = 3


def slices(numbers: list[str], count: int) -> list[dict]:
    """``numbers`` (sorted) cut into at most ``count`` slices of about the same size, as their parameter records."""
    size = -(-len(numbers) // count) if numbers else 0
    chunks = [numbers[i : i + size] for i in range(0, len(numbers), size)] if size else []
    return [{"first_no": chunk[0], "last_no": chunk[-1]} for chunk in chunks]


@login_required
@require_POST
def recalculate_all(request):
    """Recalculate all customers in a group of sessions, a slice each; a summary is posted once all have ended."""
    _require_company(request)
    numbers = list(Customer.objects.order_by("no").values_list("no", flat=True))
    if not numbers:
        messages.error(request, f"{request.company} has no customers to recalculate.")
        return redirect("demo:customers")
    try:
        group = api.start_group(
            "Recalculate Customers",
            params=slices(numbers, RECALCULATE_SLICES),
            company=request.company,
            then="Post Recalculation",
            name=f"Recalculate all customers of {request.company}",
            user=request.user,
        )
    except SessionStartError as e:
        if e.reason == "permission_denied":
            raise PermissionDenied(str(e)) from e
        messages.error(request, str(e))
        return redirect("demo:customers")
    return redirect("sessions_app:group", group.id)


@login_required
@require_GET
def works_status(request, session_id: int):
    session = visible_session(request.user, session_id)
    if session is None:
        raise Http404(f"Session {session_id} does not exist.")
    log = None
    if session.status == "succeeded" and "log_id" in session.params:
        with use_company(session.company):
            log = SessionLog.objects.filter(id=session.params["log_id"]).first()
    response = render(request, "demo/_works_status.html", {"s": session, "log": log})
    if session.is_finished:
        # The page's customer table listens for this event and reloads itself: the session may have changed it.
        response["HX-Trigger"] = json.dumps({SESSION_FINISHED: {"id": session.id, "status": session.status}})
    return response
