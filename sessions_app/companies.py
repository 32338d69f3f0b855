"""Companies: each one a database alias, and the current company of this context.

The current company lives in a ``ContextVar``: middleware sets it for a web
request, ``--company`` for a command, the runner for a session. The router
sends company-scoped models to the current company's alias and never falls
back to ``default``.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.apps import apps

from . import transport
from .conf import app_settings
from .exceptions import NoCurrentCompany, UnknownCompany


@dataclass(frozen=True)
class Company:
    name: str
    alias: str

    def __str__(self) -> str:
        return self.name


_current: ContextVar[Company | None] = ContextVar("sessions_current_company", default=None)


def all_companies() -> list[Company]:
    """Return every configured company, in settings order."""
    return [Company(name, alias) for name, alias in app_settings.COMPANIES.items()]


class AmbiguousCompany(UnknownCompany):
    """A name that matches, in any case, two configured companies whose names differ only in case."""

    def __init__(self, name: str, matches: list[str]):
        super().__init__(name)
        self.matches = matches
        self.args = (
            f"Company {name!r} is ambiguous: SESSIONS_COMPANIES has {' and '.join(map(repr, matches))}, "
            "which differ only in case. Company names are matched in any case, so they must differ by more "
            "than case: rename one of them.",
        )


def get_company(name: "str | Company") -> Company:
    """Return the company called ``name``, in any case (``cronus`` finds ``CRONUS``).

    Raise ``UnknownCompany`` if there is none, and ``AmbiguousCompany`` (an ``UnknownCompany``) if
    ``name`` is not the exact name of a company but matches, in another case, two of them.
    """
    if isinstance(name, Company):
        name = name.name
    if not isinstance(name, str):
        raise UnknownCompany(name)
    companies = app_settings.COMPANIES
    alias = companies.get(name)
    if alias is not None:
        return Company(name, alias)
    folded = name.casefold()
    matches = [(n, a) for n, a in companies.items() if isinstance(n, str) and n.casefold() == folded]
    if len(matches) > 1:
        raise AmbiguousCompany(name, [n for n, _ in matches])
    if not matches:
        raise UnknownCompany(name)
    return Company(*matches[0])


def company_aliases() -> set[str]:
    return set(app_settings.COMPANIES.values())


def current_company() -> Company | None:
    """Return the company of this context, or ``None``."""
    return _current.get()


def require_company(model_label: str = "This operation") -> Company:
    company = _current.get()
    if company is None:
        raise NoCurrentCompany(model_label)
    return company


@contextmanager
def use_company(name: "str | Company | None") -> Iterator[Company | None]:
    """Make ``name`` the current company inside the block (``None`` clears it)."""
    company = None if name is None else get_company(name)
    token = _current.set(company)
    try:
        yield company
    finally:
        _current.reset(token)


def is_company_scoped(model) -> bool:
    return bool(getattr(model, "company_scoped", False))


def _moved_model(app_label: str, model_name: str):
    """The current model of a table an older migration made under another app (its table name kept)."""
    table = f"{app_label}_{model_name}".lower()
    return next((m for m in apps.get_models() if m._meta.db_table.lower() == table), None)


def is_fence(model) -> bool:
    return bool(getattr(model, "fence_model", False))


class CompanyRouter:
    """Route company-scoped models to the current company, the registry to its alias.

    * company-scoped models (``company_scoped = True``): the current company's
      alias, else ``NoCurrentCompany``; an instance loaded from a company stays
      there.
    * this app's registry models and django-q2: the registry alias.
    * everything else: ``default``.
    """

    def _control_alias(self, model) -> str:
        if model._meta.app_label == transport.APP_LABEL or getattr(model, "registry_model", False):
            return app_settings.REGISTRY_ALIAS
        return "default"

    def _route(self, model, **hints) -> str | None:
        if is_fence(model):
            instance = hints.get("instance")
            return instance._state.db if instance is not None else None  # always used with an explicit alias
        if is_company_scoped(model):
            instance = hints.get("instance")
            if instance is not None and instance._state.db in company_aliases():
                return instance._state.db
            return require_company(model._meta.label).alias
        return self._control_alias(model)

    def db_for_read(self, model, **hints):
        return self._route(model, **hints)

    def db_for_write(self, model, **hints):
        return self._route(model, **hints)

    def allow_relation(self, obj1, obj2, **hints):
        scoped = is_company_scoped(type(obj1)), is_company_scoped(type(obj2))
        if any(scoped):
            return obj1._state.db == obj2._state.db
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # Migrations pass historical models, which lack our class attributes:
        # look the current model up by name.
        model = None
        if model_name is not None:
            try:
                model = apps.get_model(app_label, model_name)
            except LookupError:
                model = _moved_model(app_label, model_name) or hints.get("model")
        if model is not None and is_fence(model):
            # Beside the data it fences: every company database, and default for callers' transactions there.
            return db in company_aliases() or db == "default"
        if db in company_aliases():
            return model is not None and is_company_scoped(model)
        if model is not None and is_company_scoped(model):
            return False
        if db == app_settings.REGISTRY_ALIAS:
            if model is None:
                return app_label == transport.APP_LABEL
            return self._control_alias(model) == db
        if db == "default":
            if model is None:
                return app_label != transport.APP_LABEL
            return self._control_alias(model) == "default"
        return None
