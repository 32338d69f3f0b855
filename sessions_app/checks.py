"""System checks: ``manage.py check`` reports the ways a project can wire this app up wrong.

``SessionsConfig.ready`` imports this module, which registers every check under the tag
``sessions_app`` (so ``manage.py check --tag sessions_app`` runs them alone). They read settings
and the codeunit registry only, never a database, and never raise on a malformed value: each
mistake is one message whose hint says what to write in settings.

=========  =====================================================================================
id         what it catches
=========  =====================================================================================
E001       ``sessions_app.companies.CompanyRouter`` missing from ``DATABASE_ROUTERS``
E002       ``SESSIONS_COMPANIES`` empty, or not a dict of company name -> database alias
E003       a company's alias not in ``DATABASES``
E004       the registry alias (``SESSIONS_REGISTRY_ALIAS``) not in ``DATABASES``
E005       the registry alias shared with a company, or ``"default"``
E006       two companies sharing one alias
E007       a company on the ``"default"`` alias
E008       ``Q_CLUSTER["orm"]`` not the registry alias
E009       ``Q_CLUSTER["broker_class"]`` that cannot be imported or is no django-q2 broker
E010       a codeunit id registered twice (under two names)
E011       a codeunit name registered twice (under two ids)
E012       ``SESSIONS_MAX_TIMEOUT`` / ``SESSIONS_DEFAULT_TIMEOUT`` not timedeltas, or default > max
E013       ``django_q`` missing from ``INSTALLED_APPS``
W002       a broker that does not screen queued tasks (not ``GuardedORM`` / ``GuardedRedis``)
W003       one function registered as two codeunits
E014       ``django_htmx`` missing from ``INSTALLED_APPS`` (the pages load htmx through it)
E015       ``CurrentCompanyMiddleware`` missing from ``MIDDLEWARE``, or before the authentication middleware
W004       the ``current_company_context`` context processor missing (pages show no company)
E016       django-q2's own ORM broker instead of ``GuardedORM`` (it never reads the queued sessions)
E017       ``SESSIONS_RUN_DIR`` (the cluster's lock files) a folder others may write to, or no folder
E018       ``SESSIONS_HOST`` not a name of 1 to 90 characters without spaces (it starts every ``host:pid``)
=========  =====================================================================================
"""

import re
from collections import defaultdict
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, register
from django.core.checks import Warning as CheckWarning
from django.utils.module_loading import import_string

from . import transport
from .conf import app_settings

TAG = "sessions_app"
ROUTER = "sessions_app.companies.CompanyRouter"


# --- reading the settings without trusting them ----------------------------------------------


def _databases() -> list[str]:
    databases = getattr(settings, "DATABASES", None)
    return list(databases) if isinstance(databases, dict) else []


def _known(aliases: list[str]) -> str:
    return ", ".join(repr(a) for a in aliases) or "none"


def _registry_alias():
    return app_settings.REGISTRY_ALIAS


def _q_cluster() -> dict:
    q = getattr(settings, "Q_CLUSTER", None)
    return q if isinstance(q, dict) else {}


def _slug(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_") or "name"


def _suggest_alias(name: str) -> str:
    return f"company_{_slug(name)}"


def _companies() -> dict[str, str]:
    """The well-formed part of ``SESSIONS_COMPANIES`` (E002 reports the rest)."""
    raw = getattr(settings, "SESSIONS_COMPANIES", None)
    if not isinstance(raw, dict):
        return {}
    return {n: a for n, a in raw.items() if isinstance(n, str) and n.strip() and isinstance(a, str) and a}


# --- E001: the router ------------------------------------------------------------------------


@register(TAG)
def check_router(app_configs=None, **kwargs):
    """Without the router, company-scoped models go to ``default`` and registry rows join the caller's transaction."""
    from .companies import CompanyRouter

    routers = getattr(settings, "DATABASE_ROUTERS", None) or []
    for router in routers:
        if isinstance(router, str):
            try:
                router = import_string(router)
            except ImportError:
                continue  # Django reports an unimportable router itself, on first use
        cls = router if isinstance(router, type) else type(router)
        if issubclass(cls, CompanyRouter):
            return []
    return [
        Error(
            f"DATABASE_ROUTERS ({list(routers)!r}) does not contain {ROUTER!r}: company-scoped models would be "
            "read and written on 'default' and the session registry on the caller's connection.",
            hint=f"Add {ROUTER!r} to DATABASE_ROUTERS in settings, e.g. DATABASE_ROUTERS = [{ROUTER!r}].",
            id="sessions_app.E001",
        )
    ]


# --- E002-E007: companies and the registry alias ---------------------------------------------


@register(TAG)
def check_companies(app_configs=None, **kwargs):
    """Every company needs its own database alias, defined in ``DATABASES`` and not used by anything else."""
    raw = getattr(settings, "SESSIONS_COMPANIES", None)
    databases = _databases()
    errors = []
    example = 'SESSIONS_COMPANIES = {"CRONUS": "company_cronus"} with a DATABASES["company_cronus"] entry'
    if not raw:
        errors.append(
            Error(
                f"SESSIONS_COMPANIES is {raw!r}: there is no company to run a session in.",
                hint=f"Map each company name to the alias of its database in settings, e.g. {example}.",
                id="sessions_app.E002",
            )
        )
    elif not isinstance(raw, dict):
        if isinstance(raw, (list, tuple, set)) and all(isinstance(n, str) for n in raw):
            suggestion = "{" + ", ".join(f"{n!r}: {_suggest_alias(n)!r}" for n in raw) + "}"
            hint = f"Write SESSIONS_COMPANIES = {suggestion}, with a DATABASES entry for each alias."
        else:
            hint = f"Write SESSIONS_COMPANIES as a dict of company name -> database alias, e.g. {example}."
        errors.append(
            Error(
                f"SESSIONS_COMPANIES is a {type(raw).__name__} ({raw!r}), not a dict of company name -> "
                "database alias.",
                hint=hint,
                id="sessions_app.E002",
            )
        )
    else:
        for name, alias in raw.items():
            if not (isinstance(name, str) and name.strip() and isinstance(alias, str) and alias):
                if isinstance(name, str) and name.strip():
                    entry = f"{name!r}: {_suggest_alias(name)!r}"
                    hint = f"Write the entry as {entry}, with a DATABASES[{_suggest_alias(name)!r}] entry."
                else:
                    hint = (
                        "Key the entry by the company's name, e.g. 'CRONUS': 'company_cronus', with a "
                        "DATABASES['company_cronus'] entry."
                    )
                errors.append(
                    Error(
                        f"SESSIONS_COMPANIES maps {name!r} to {alias!r}: company names and database aliases must "
                        "be non-empty strings.",
                        hint=hint,
                        id="sessions_app.E002",
                    )
                )

    companies = _companies()
    for name, alias in companies.items():
        if alias not in databases:
            errors.append(
                Error(
                    f"Company {name!r} uses the database alias {alias!r}, which is not in DATABASES "
                    f"(its aliases: {_known(databases)}).",
                    hint=f"Add DATABASES[{alias!r}] = {{...}} for the database of {name!r}, or correct "
                    f"SESSIONS_COMPANIES[{name!r}] to the alias its database has in DATABASES.",
                    id="sessions_app.E003",
                )
            )
        if alias == "default":
            errors.append(
                Error(
                    f"Company {name!r} uses the 'default' alias: the router would migrate only company-scoped "
                    "models there, leaving out auth, admin and content types.",
                    hint=f"Give {name!r} its own database: SESSIONS_COMPANIES[{name!r}] = "
                    f"{_suggest_alias(name)!r} with DATABASES[{_suggest_alias(name)!r}] = {{...}}.",
                    id="sessions_app.E007",
                )
            )

    by_alias = defaultdict(list)
    for name, alias in companies.items():
        by_alias[alias].append(name)
    for alias, names in by_alias.items():
        if len(names) > 1:
            own = ", ".join(f"{n!r}: {(alias if i == 0 else _suggest_alias(n))!r}" for i, n in enumerate(names))
            errors.append(
                Error(
                    f"Companies {', '.join(repr(n) for n in names)} share the database alias {alias!r}: "
                    "each company's data must live in its own database.",
                    hint=f"Give each its own alias in SESSIONS_COMPANIES ({own}) and add a DATABASES entry for "
                    "each new alias.",
                    id="sessions_app.E006",
                )
            )
    return errors


@register(TAG)
def check_registry_alias(app_configs=None, **kwargs):
    """The registry is its own connection, so a session's row commits whatever the caller's transaction does."""
    alias = _registry_alias()
    databases = _databases()
    errors = []
    if not isinstance(alias, str) or alias not in databases:
        errors.append(
            Error(
                f"The registry alias SESSIONS_REGISTRY_ALIAS = {alias!r} is not in DATABASES "
                f"(its aliases: {_known(databases)}).",
                hint='Add DATABASES["registry"] = {...} (a database of its own) and leave SESSIONS_REGISTRY_ALIAS '
                "unset, or set SESSIONS_REGISTRY_ALIAS to the alias of the registry's database.",
                id="sessions_app.E004",
            )
        )
    shared = [name for name, company_alias in _companies().items() if company_alias == alias]
    if shared or alias == "default":
        what = f"also the alias of company {', '.join(repr(n) for n in shared)}" if shared else "the callers' alias"
        errors.append(
            Error(
                f"The registry alias SESSIONS_REGISTRY_ALIAS = {alias!r} is {what}: the registry needs its own "
                "connection, so that a session's row commits whatever transaction the caller holds.",
                hint='Add a separate DATABASES["registry"] = {...} and set SESSIONS_REGISTRY_ALIAS = "registry" '
                '(and Q_CLUSTER["orm"] = "registry" with the ORM broker).',
                id="sessions_app.E005",
            )
        )
    return errors


# --- E008, E009, E016, W002: django-q2 ---------------------------------------------------------


@register(TAG)
def check_django_q(app_configs=None, **kwargs):
    """Sessions are queued on the registry alias; the cluster must read them there, through a screening broker."""
    errors = []
    if not apps.is_installed(transport.APP_LABEL):
        errors.append(
            Error(
                "'django_q' is not in INSTALLED_APPS: sessions run on django-q2's queue and its tables.",
                hint='Add "django_q" to INSTALLED_APPS (before "sessions_app") and run manage.py migrate_all.',
                id="sessions_app.E013",
            )
        )
    q = _q_cluster()
    registry = _registry_alias()
    if "orm" in q and q["orm"] != registry:
        missing = "" if q["orm"] in _databases() else ", which is not even in DATABASES"
        errors.append(
            Error(
                f'Q_CLUSTER["orm"] is {q["orm"]!r}{missing}, but sessions are queued on the registry alias '
                f"{registry!r}: the cluster would never see them.",
                hint=f'Set Q_CLUSTER["orm"] = {registry!r} (the value of SESSIONS_REGISTRY_ALIAS).',
                id="sessions_app.E008",
            )
        )

    if not apps.is_installed(transport.APP_LABEL):
        return errors  # its brokers cannot even be imported

    guarded = transport.GUARDED_REDIS if "redis" in q else transport.GUARDED_ORM
    try:
        cls = transport.broker_class(q)
    except (ImportError, AttributeError, TypeError) as e:  # not a dotted path django-q2 could import either
        return [
            *errors,
            Error(
                f'Q_CLUSTER["broker_class"] = {q.get("broker_class")!r} cannot be imported: {e}.',
                hint=f'Set Q_CLUSTER["broker_class"] = {guarded!r}.',
                id="sessions_app.E009",
            ),
        ]
    if cls is not None and not transport.is_broker(cls):
        return [
            *errors,
            Error(
                f'Q_CLUSTER["broker_class"] = {q.get("broker_class")!r} is not a django-q2 broker class.',
                hint=f'Set Q_CLUSTER["broker_class"] = {guarded!r}.',
                id="sessions_app.E009",
            ),
        ]
    if cls is not None and transport.is_plain_orm(cls):
        errors.append(
            Error(
                f"The django-q2 broker is {cls.__module__}.{cls.__qualname__}: with the ORM broker a queued "
                f"session's registry row is its queue entry, and only {transport.GUARDED_ORM} reads "
                "it; no session would ever run.",
                hint=f'Set Q_CLUSTER["broker_class"] = {guarded!r} and Q_CLUSTER["orm"] = {registry!r}.',
                id="sessions_app.E016",
            )
        )
    elif cls is None or not transport.screens(cls):
        name = f"{cls.__module__}.{cls.__qualname__}" if cls is not None else "a broker other than ORM or Redis"
        errors.append(
            CheckWarning(
                f"The django-q2 broker is {name}: it hands workers any signed task, unchecked against "
                "SESSIONS_ALLOWED_TASKS, and does not record which cluster took which sessions.",
                hint=f'Set Q_CLUSTER["broker_class"] = {guarded!r}.',
                id="sessions_app.W002",
            )
        )
    return errors


# --- E012: timeouts ----------------------------------------------------------------------------


@register(TAG)
def check_timeouts(app_configs=None, **kwargs):
    """A default timeout above the maximum would make every start without a ``timeout`` fail."""
    max_timeout, default = app_settings.MAX_TIMEOUT, app_settings.DEFAULT_TIMEOUT
    errors = []
    for name, value in (("SESSIONS_MAX_TIMEOUT", max_timeout), ("SESSIONS_DEFAULT_TIMEOUT", default)):
        if not isinstance(value, timedelta) or value < timedelta(seconds=1):
            errors.append(
                Error(
                    f"{name} is {value!r}: it must be a timedelta of at least 1 second.",
                    hint=f"Write {name} = timedelta(hours=...) (from datetime import timedelta).",
                    id="sessions_app.E012",
                )
            )
    if not errors and default > max_timeout:
        errors.append(
            Error(
                f"SESSIONS_DEFAULT_TIMEOUT ({default}) is longer than SESSIONS_MAX_TIMEOUT ({max_timeout}): every "
                "session started without a timeout would be refused.",
                hint=f"Set SESSIONS_DEFAULT_TIMEOUT to at most {max_timeout!r}, or raise SESSIONS_MAX_TIMEOUT "
                f'(and Q_CLUSTER["retry"] above it).',
                id="sessions_app.E012",
            )
        )
    return errors


# --- E017: the cluster's lock files -------------------------------------------------------------


@register(TAG)
def check_run_dir(app_configs=None, **kwargs):
    """A lock folder another user can write to lets that user silence the cluster's checks."""
    from .leader import not_private, run_dir_path

    path = run_dir_path()
    try:
        problem = not_private(path)
    except FileNotFoundError:
        return []  # made, private, when the cluster first needs it
    except OSError as e:
        problem = f"SESSIONS_RUN_DIR {str(path)!r} cannot be used: {e}"
    if not problem:
        return []
    return [
        Error(
            problem,
            hint="Remove that folder, or set SESSIONS_RUN_DIR to a folder only the cluster's user can write "
            "(mode 700).",
            id="sessions_app.E017",
        )
    ]


# --- E018: the host's name ----------------------------------------------------------------------

HOST_MAX = 90  # host:pid must fit the registry's worker and cluster name fields (100 characters)


@register(TAG)
def check_host(app_configs=None, **kwargs):
    """Worker and cluster names are ``host:pid``: a host name that cannot be stored, or read back, is an error."""
    host = getattr(settings, "SESSIONS_HOST", None)
    if host is None or host == "":
        return []  # the machine's host name
    if isinstance(host, str) and 0 < len(host) <= HOST_MAX and not any(c.isspace() for c in host):
        return []
    return [
        Error(
            f"SESSIONS_HOST {host!r} is not a host name of 1 to {HOST_MAX} characters without spaces.",
            hint="Leave it unset (the machine's host name), or give each host or container a name of its own, "
            "e.g. its pod name.",
            id="sessions_app.E018",
        )
    ]


# --- E010, E011, W003: the codeunit registry -------------------------------------------------


def codeunit_messages(reg) -> list:
    """Clashes a ``Registry`` holds.

    ``Registry.register`` raises ``CodeunitRegistrationError`` at import when two *different*
    functions claim one id or name: ``SessionsConfig.ready`` fails, so the project does not start
    and no check runs (the registry then holds only clash-free registrations). It lets the *same*
    function be registered again (stacked ``@codeunit`` decorators, or ``register`` called again on
    a registered function) and keeps both registrations: one id with two names (E010), one name on
    two ids (E011), or one function as two codeunits (W003). Those are reported here; the registry
    is only read, never changed.
    """
    messages = []
    by_id, by_name = reg.by_id(), reg.by_name()
    for key, cu in by_name.items():
        current = by_id.get(cu.id)
        if current is not cu and current is not None and current.name.casefold() != key:
            messages.append(
                Error(
                    f"Codeunit id {cu.id} is registered twice: as {cu.name!r} and as {current.name!r} "
                    f"({current.func.__module__}.{current.func.__qualname__}); the name {cu.name!r} still finds it.",
                    hint=f"Keep one @codeunit({cu.id}, ...) decorator on {current.func.__qualname__} and give any "
                    "other one a new id.",
                    id="sessions_app.E010",
                )
            )
    for cu in reg.all():
        named = by_name.get(cu.name.casefold())
        if named is not None and named is not cu and named.id != cu.id:
            messages.append(
                Error(
                    f"Codeunit name {cu.name!r} is registered twice: ids {cu.id} and {named.id} "
                    f"({cu.func.__module__}.{cu.func.__qualname__}); starting {cu.name!r} by name runs "
                    f"{named.id} only.",
                    hint=f"Keep one @codeunit(..., {cu.name!r}) decorator, or rename codeunit {cu.id}.",
                    id="sessions_app.E011",
                )
            )
    by_func = defaultdict(list)
    for cu in reg.all():
        by_func[cu.func].append(cu)
    for func, cus in by_func.items():
        names = {cu.name.casefold() for cu in cus}
        if len(cus) > 1 and len(names) == len(cus):
            listed = " and ".join(str(cu) for cu in cus)
            messages.append(
                CheckWarning(
                    f"{func.__module__}.{func.__qualname__} is registered as codeunits {listed}: starting it by "
                    f"its function runs {reg.get(func)}.",
                    hint=f"Keep one @codeunit(...) decorator on {func.__qualname__}; write a second function for "
                    "a second codeunit.",
                    id="sessions_app.W003",
                )
            )
    return messages


@register(TAG)
def check_codeunits(app_configs=None, **kwargs):
    """Each codeunit id and name names one codeunit, and each registered function is one codeunit."""
    from .codeunits import registry

    return codeunit_messages(registry)


# --- E014, E015, W004: the web pages -----------------------------------------------------------

MIDDLEWARE_PATH = "sessions_app.middleware.CurrentCompanyMiddleware"
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
CONTEXT_PROCESSOR = "sessions_app.middleware.current_company_context"


@register(TAG)
def check_web(app_configs=None, **kwargs):
    """The app's pages need htmx's template tags, the current company per request, and it in their context."""
    messages = []
    if not apps.is_installed("django_htmx"):
        messages.append(
            Error(
                "'django_htmx' is not in INSTALLED_APPS: the app's pages load htmx with its template tags.",
                hint='Add "django_htmx" to INSTALLED_APPS.',
                id="sessions_app.E014",
            )
        )
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if MIDDLEWARE_PATH not in middleware:
        messages.append(
            Error(
                f"{MIDDLEWARE_PATH!r} is not in MIDDLEWARE: requests have no current company, and the start "
                "and job queue pages fail.",
                hint=f'Add "{MIDDLEWARE_PATH}" to MIDDLEWARE, after "{AUTH_MIDDLEWARE}".',
                id="sessions_app.E015",
            )
        )
    elif AUTH_MIDDLEWARE in middleware and middleware.index(MIDDLEWARE_PATH) < middleware.index(AUTH_MIDDLEWARE):
        messages.append(
            Error(
                f"{MIDDLEWARE_PATH!r} comes before {AUTH_MIDDLEWARE!r}: it chooses the company by the user, "
                "who is not known yet.",
                hint=f'Move "{MIDDLEWARE_PATH}" after "{AUTH_MIDDLEWARE}" in MIDDLEWARE.',
                id="sessions_app.E015",
            )
        )
    django_templates = [
        t
        for t in getattr(settings, "TEMPLATES", None) or []
        if isinstance(t, dict) and "DjangoTemplates" in str(t.get("BACKEND"))
    ]
    processors = [p for t in django_templates for p in (t.get("OPTIONS") or {}).get("context_processors", [])]
    if django_templates and CONTEXT_PROCESSOR not in processors:
        messages.append(
            CheckWarning(
                f"{CONTEXT_PROCESSOR!r} is not among the context processors: pages show no current company "
                "and no company switcher.",
                hint=f'Append "{CONTEXT_PROCESSOR}" to TEMPLATES[0]["OPTIONS"]["context_processors"].',
                id="sessions_app.W004",
            )
        )
    return messages
