"""The app's own "not allowed" and "not found" pages: its look, what went wrong, and a way back.

The app's views answer with these themselves (``app_pages`` wraps each of its URLs), so the app
needs no project-wide ``403.html`` or ``404.html`` and leaves the host project's own alone. A
project that wants the same pages for the rest of its site (the admin, its own views) names the
handlers in its root URLconf::

    handler403 = "sessions_app.errors.permission_denied"
    handler404 = "sessions_app.errors.page_not_found"
"""

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

TEMPLATE = "sessions_app/error.html"


def _message(exception, default: str) -> str:
    """The exception's own sentence ("Session 7 does not exist."), else ``default``.

    A 404 of the URL resolver carries a dict of the patterns tried, not a sentence: not shown.
    """
    message = exception.args[0] if exception is not None and exception.args else ""
    return message if isinstance(message, str) and message else default


def ways_back(request) -> list[tuple[str, str]]:
    """Links (label, URL) a person can follow from an error page: the page they came from, then a page they may open."""
    links = []
    referer = request.META.get("HTTP_REFERER", "")
    if (
        referer
        and not referer.endswith(request.get_full_path())
        and url_has_allowed_host_and_scheme(
            referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        links.append(("Back to the previous page", referer))
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        links.append(("Sign in", reverse("sessions_app:login")))
    elif user.has_perm("sessions_app.view_backgroundsession"):
        links.append(("Sessions", reverse("sessions_app:dashboard")))
    else:
        links.append(("Codeunits", reverse("sessions_app:codeunits")))
    return links


def _error_page(request, status: int, heading: str, message: str):
    context = {"status": status, "heading": heading, "message": message, "ways_back": ways_back(request)}
    return render(request, TEMPLATE, context, status=status)


def permission_denied(request, exception=None):
    """403: the page is there, but this user may not open it (or do this)."""
    message = _message(exception, "Your account may not open this page.")
    return _error_page(request, 403, "Not allowed", message)


def page_not_found(request, exception=None):
    """404: nothing here, or nothing this user may see (another company's session is a 404, never a 403)."""
    message = _message(exception, "There is no page at this address.")
    return _error_page(request, 404, "Not found", message)


def app_pages(view):
    """Answer a view's ``PermissionDenied`` and ``Http404`` with the app's pages, whatever the project's handlers."""

    @wraps(view)
    def answered(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as e:
            return permission_denied(request, e)
        except Http404 as e:
            return page_not_found(request, e)

    return answered


def app_urls(patterns: list) -> list:
    """``patterns`` (the app's URL patterns): each view answers with the app's error pages and refuses a NUL."""
    from .forms import refuse_nul

    for pattern in patterns:
        pattern.callback = refuse_nul(app_pages(pattern.callback))
    return patterns
