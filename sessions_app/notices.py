"""What a start or an inline run did, in a sentence for a page's messages: the pages and the admins say it alike."""

from django.urls import reverse
from django.utils.html import format_html, format_html_join

from .templatetags.sessions_format import duration


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """Say "1 session" or "3 sessions"; ``nouns`` for an irregular plural ("1 entry", "2 entries")."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def session_links(sessions) -> str:
    return format_html_join(
        ", ", '<a href="{}">{}</a>', ((reverse("sessions_app:session", args=[s.id]), s.id) for s in sessions)
    )


def started_messages(sessions) -> list[str]:
    """What starting ``sessions`` did, one sentence per codeunit: "Started The Works in 3 sessions: 4, 5, 6."."""
    by_codeunit: dict[str, list] = {}
    for s in sessions:
        by_codeunit.setdefault(s.codeunit_name, []).append(s)
    return [
        format_html("Started {} in {}: {}.", name, plural(len(group), "session"), session_links(group))
        for name, group in by_codeunit.items()
    ]


def ran_inline_message(session, subject: str | None = None, verb: str = "Ran") -> str:
    """What an inline (debug) run did: "Ran The Works inline in session 7: succeeded in 0.21 s."."""
    outcome = session.get_status_display().lower()
    if session.elapsed is not None:
        outcome += f" in {duration(session.elapsed)}"
    if session.error:
        outcome += f": {session.error}"
    return format_html(
        "{} {} inline in session {}: {}.", verb, subject or session.codeunit_name, session_links([session]), outcome
    )
