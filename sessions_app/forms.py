"""Forms for starting sessions from the web and the admin."""

from django import forms

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
