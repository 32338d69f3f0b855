"""Template filters of the app's pages: ``{% load sessions_format %}``.

``duration`` says how long something took the way a person would ("3.04 s",
"2 min 5 s", "1 h 2 min"); ``pretty_json`` shows parameters and results as
indented JSON rather than Python's repr.
"""

import json
from datetime import timedelta

from django import template
from django.core.serializers.json import DjangoJSONEncoder

register = template.Library()


class _Encoder(DjangoJSONEncoder):
    def default(self, o):
        try:
            return super().default(o)
        except TypeError:
            return str(o)


@register.filter
def duration(value) -> str:
    """A ``timedelta`` (or a number of seconds) as "3.04 s", "2 min 5 s", "1 h 2 min" or "2 d 3 h"; "" for None.

    Under a minute, hundredths of a second; above, whole units, the smaller one left out when it is 0.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    else:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            return ""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if 0 < seconds < 0.005:
        return f"{sign}< 0.01 s"
    if round(seconds, 2) < 60:
        return f"{sign}{seconds:.2f} s"
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        parts = [(days, "d"), (hours, "h")]
    elif hours:
        parts = [(hours, "h"), (minutes, "min")]
    else:
        parts = [(minutes, "min"), (secs, "s")]
    first, second = parts
    text = f"{first[0]} {first[1]}" + (f" {second[0]} {second[1]}" if second[0] else "")
    return sign + text


@register.filter
def pretty_json(value) -> str:
    """``value`` as indented JSON (dates and decimals as DjangoJSONEncoder writes them, anything else as str)."""
    return json.dumps(value, indent=2, ensure_ascii=False, cls=_Encoder)
