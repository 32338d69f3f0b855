"""What the registry can hold: results checked before the work commits, text made safe and bounded.

A result is stored twice, in the company's fence row and in the registry, so
it must be strict JSON that both can hold: no NaN or infinity (PostgreSQL's
``jsonb`` and the JSON standard refuse them), no NUL character (``jsonb`` and
``text`` refuse it), and not larger than ``SESSIONS_RESULT_MAX_BYTES``. It is
checked while the codeunit's transaction is still open, so a result that
cannot be stored fails the session and rolls its work back.

Error messages, tracebacks and log lines are never refused: NUL and
undecodable characters are escaped, and long text is cut with a note.
"""

import json
import re

from django.core.serializers.json import DjangoJSONEncoder

from .conf import app_settings
from .exceptions import ResultRefused

_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
"""A NUL character as ``json.dumps`` writes it: backslash, u0000, after an even number of backslashes
(a text that says backslash-u0000 in six characters is written with its backslash doubled)."""


def has_nul(json_text: str) -> bool:
    """Does the JSON text hold a NUL character, which ``jsonb`` and ``text`` refuse?"""
    return _NUL_ESCAPE.search(json_text) is not None


def result(value):
    """Return ``value`` as the JSON the registry will hold; raise ``ResultRefused`` if it cannot be stored."""
    try:
        text = json.dumps(value, cls=DjangoJSONEncoder, allow_nan=False, ensure_ascii=False)
    except ValueError as e:  # NaN or infinity
        raise ResultRefused(f"The result is not strict JSON: {e}.") from e
    except TypeError as e:
        raise ResultRefused(f"The result cannot be stored as JSON: {e}.") from e
    except RecursionError as e:
        raise ResultRefused("The result is nested too deeply to be stored as JSON.") from e
    if has_nul(text):
        raise ResultRefused("The result contains a NUL character (\\u0000), which the registry cannot hold.")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise ResultRefused(f"The result contains text that is not valid Unicode: {e.reason}.") from e
    limit = app_settings.RESULT_MAX_BYTES
    if size > limit:
        raise ResultRefused(
            f"The result is {size} bytes of JSON; at most {limit} can be stored (SESSIONS_RESULT_MAX_BYTES)."
        )
    return json.loads(text)


def text(value, limit: int, *, keep_end: bool = False) -> str:
    """Return ``value`` as text any database can hold: NUL and lone surrogates escaped, at most ``limit`` characters.

    ``keep_end`` keeps the first and the last part (a traceback's innermost
    frames and message are at its end).
    """
    value = str(value)
    if "\x00" in value:
        value = value.replace("\x00", "\\x00")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(value) > limit:
        cut = len(value) - limit
        note = f"\n[... {cut} characters not kept ...]\n"
        room = max(0, limit - len(note))
        if keep_end:
            value = value[: room // 2] + note + value[len(value) - (room - room // 2) :]
        else:
            value = value[:room] + note.rstrip()
    return value


ERROR_MAX_CHARS = 10_000
"""An error message is cut to this length (the full text stays in the traceback, up to its own limit)."""
TRACEBACK_MAX_CHARS = 64_000
LOG_LINE_MAX_CHARS = 500
"""With ``SESSIONS_LOG_LINES_MAX`` (1,000) lines, a session's log stays under half a megabyte."""
