"""Forms for starting sessions from the web and the admin, and the check every request's input passes."""

from functools import wraps

from django import forms
from django.http import HttpResponseBadRequest

from .access import companies_for
from .conf import app_settings


def timeout_field(help_text: str) -> forms.IntegerField:
    """A timeout in seconds; built per form, not on a class, as its ceiling is a setting read when the form is made."""
    return forms.IntegerField(
        required=False,
        min_value=1,
        max_value=int(app_settings.MAX_TIMEOUT.total_seconds()),
        help_text=help_text,
        label="Timeout (seconds)",
    )


class StartOptionsForm(forms.Form):
    """Where and how to run a session; the parameter record's own form goes beside it."""

    company = forms.ChoiceField()
    debug = forms.BooleanField(required=False, label="Run inline (debug)")

    def __init__(self, *args, user=None, current_company=None, **kwargs):
        super().__init__(*args, **kwargs)
        names = [c.name for c in companies_for(user)]
        self.fields["company"].choices = [(n, n) for n in names]
        if current_company is not None and current_company.name in names:
            self.fields["company"].initial = current_company.name
        self.fields["timeout"] = timeout_field("seconds (default: 12 hours)")
        self.order_fields(["company", "timeout", "debug"])


def record_form(codeunit, data=None, exclude=(), initial=None):
    """Return the codeunit's parameter record form (fields in ``exclude`` left out), prefixed ``p``."""
    form_class = codeunit.params.form_class()
    form = form_class(data=data, prefix="p", initial=initial)
    for name in exclude:
        form.fields.pop(name, None)
    return form


def given_values(form) -> dict:
    """The values a valid record form was given: an empty field takes its default, a generated one is made per run."""
    return {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}


NUL_REFUSED = "A NUL character cannot be stored: remove it from the text and try again."


def has_nul(data) -> bool:
    """Does any key or value of a ``QueryDict`` hold a NUL character (which PostgreSQL's text refuses)?"""
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in data.lists())


def refuse_nul(view):
    """Answer 400 to a request whose query or form holds a NUL character, on every database alike.

    Django's form fields refuse NUL already; this covers what reaches a query
    as it stands (a change list's filters, a stop comment).
    """

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if has_nul(request.GET) or (request.method == "POST" and has_nul(request.POST)):
            return HttpResponseBadRequest(NUL_REFUSED)
        return view(request, *args, **kwargs)

    return guarded


def refusing_nul(patterns: list) -> list:
    """``patterns`` (URL patterns), each view refusing a NUL character in its input (``refuse_nul``)."""
    for pattern in patterns:
        pattern.callback = refuse_nul(pattern.callback)
    return patterns
