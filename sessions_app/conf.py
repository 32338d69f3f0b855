"""The app's settings, read lazily so that ``override_settings`` works.

Use ``from sessions_app.conf import app_settings`` and read attributes at call
time; nothing here is evaluated at import.
"""

from datetime import timedelta

from django.conf import settings


class AppSettings:
    """Typed accessors for the ``SESSIONS_*`` settings, with their defaults."""

    def _get(self, name, default):
        return getattr(settings, f"SESSIONS_{name}", default)

    @property
    def COMPANIES(self) -> dict[str, str]:
        """Company name -> database alias."""
        return dict(self._get("COMPANIES", {}))

    @property
    def REGISTRY_ALIAS(self) -> str:
        """The database alias of the session registry (its own connection)."""
        return self._get("REGISTRY_ALIAS", "registry")

    @property
    def DEBUG(self) -> bool:
        """Run every session inline unless the caller says ``debug=False``."""
        return bool(self._get("DEBUG", False))

    @property
    def DEFAULT_TIMEOUT(self) -> timedelta:
        return self._get("DEFAULT_TIMEOUT", timedelta(hours=12))

    @property
    def MAX_TIMEOUT(self) -> timedelta:
        """The longest timeout a session may ask for; django-q2's ``retry`` must exceed it."""
        return self._get("MAX_TIMEOUT", timedelta(hours=24))

    @property
    def BROKER(self) -> str:
        return self._get("BROKER", "orm")

    @property
    def CLAIM_WAIT(self) -> float:
        """Seconds a worker waits for a session row it cannot see yet."""
        return float(self._get("CLAIM_WAIT", 5.0))


app_settings = AppSettings()
