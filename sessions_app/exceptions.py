"""Exceptions raised by the sessions engine."""

from typing import Any


class SessionError(Exception):
    """Base class of every error the sessions engine raises. Do not raise directly."""


class CompanyError(SessionError):
    """A company is unknown, or a company-scoped model was used with no current company."""


class UnknownCompany(CompanyError):
    def __init__(self, name: Any):
        self.name = name
        super().__init__(f"Company {name!r} does not exist.")


class NoCurrentCompany(CompanyError):
    def __init__(self, model_label: str):
        self.model_label = model_label
        super().__init__(
            f"{model_label} is company-scoped, but there is no current company. "
            "Use sessions_app.companies.use_company(name) or pass --company."
        )


class CodeunitError(SessionError):
    """A codeunit is unknown or was registered wrongly."""


class UnknownCodeunit(CodeunitError):
    def __init__(self, ref: Any):
        self.ref = ref
        super().__init__(f"Codeunit {ref!r} is not registered.")


class CodeunitRegistrationError(CodeunitError):
    """A codeunit declaration is invalid (duplicate id or name, wrong signature)."""


class RecordValidationError(SessionError):
    """Values do not fit a parameter record. ``errors`` maps field -> messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        detail = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items())
        super().__init__(f"Invalid parameters: {detail}")


class SessionStartError(SessionError):
    """A session could not be started; nothing was written or enqueued.

    ``reason`` is one of :attr:`REASONS`; ``errors`` (field -> messages) is set
    for ``invalid_params``.
    """

    REASONS = (
        "unknown_codeunit",
        "unknown_company",
        "invalid_params",
        "limit_reached",
        "unavailable",
        "permission_denied",
    )

    def __init__(self, reason: str, message: str, errors: dict[str, list[str]] | None = None):
        if reason not in self.REASONS:
            raise ValueError(f"Unknown SessionStartError reason {reason!r}.")
        self.reason = reason
        self.errors = errors or {}
        super().__init__(message)


class SessionNotFound(SessionError):
    def __init__(self, session_id: Any):
        self.session_id = session_id
        super().__init__(f"Session {session_id!r} does not exist.")


class SessionWaitTimeout(SessionError):
    def __init__(self, session_id: int, timeout: float, status: str):
        self.session_id = session_id
        self.status = status
        super().__init__(f"Session {session_id} is still {status} after {timeout:g} seconds.")


class GroupNotFound(SessionError):
    def __init__(self, group_id: Any):
        self.group_id = group_id
        super().__init__(f"Group {group_id!r} does not exist.")


class GroupWaitTimeout(SessionError):
    def __init__(self, group_id: int, timeout: float, status: str):
        self.group_id = group_id
        self.status = status
        super().__init__(f"Group {group_id} is still {status} after {timeout:g} seconds.")


class SessionStopped(SessionError):
    """Raised inside a codeunit by ``session.check_stop()`` when a stop was asked or it timed out."""

    def __init__(self, session_id: int, reason: str = "stopped"):
        self.session_id = session_id
        self.reason = reason
        what = "timed out" if reason == "timed_out" else "was asked to stop"
        super().__init__(f"Session {session_id} {what}.")


class SessionLost(SessionError):
    """Not raised: what a ``django.tasks`` result names as the error of a session whose worker died."""


class ResultRefused(SessionError):
    """A codeunit's result cannot be stored (not strict JSON, a NUL character, too large): its work rolls back."""


class SessionFenced(SessionError):
    """The session was declared lost or stopped from outside before it could commit; its work rolled back."""

    def __init__(self, session_id: int):
        self.session_id = session_id
        super().__init__(f"Session {session_id} was settled from outside before it could commit; rolled back.")


class RetriableError(SessionError):
    """Raise in a codeunit run by a scheduled task when trying again later may succeed.

    The task is retried with a growing delay (``SESSIONS_TASK_MAX_RETRIES``);
    any other error runs its failure codeunit at once.
    """
