"""Build ``DATABASES`` and the company registry from environment variables.

Three kinds of alias:

* ``default`` - the control database: auth, admin, content types.
* ``registry`` - the session registry and django-q2's tables. Its own
  connection, always in autocommit, so a session's registry row is committed
  whatever transaction the caller holds open on ``default``. On SQLite it is its
  own file, so that a caller's open write transaction on ``default`` can never
  block it.
* ``company_<slug>`` - one per company, holding company-scoped models.

Environment variables (all optional; the default is SQLite files in
``SESSIONS_DATA_DIR``, no server needed):

``DATABASE_URL``                 control database
``REGISTRY_DATABASE_URL``        registry database (default: the control
                                 database's name with ``_registry`` added)
``SESSIONS_COMPANIES``           comma-separated company names
``COMPANY_DATABASE_URL``         template with ``{slug}``, e.g.
                                 ``postgres://127.0.0.1/erp_{slug}``
``COMPANY_<SLUG>_DATABASE_URL``  one company's database, overriding the template
"""

import os
import re
from pathlib import Path

import dj_database_url

DEFAULT_COMPANIES = "CRONUS,CRONUS UK"


def slugify_company(name: str) -> str:
    """Return the alias-safe slug of a company name: ``CRONUS UK`` -> ``cronus_uk``."""
    slug = re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")
    if not slug:
        raise ValueError(f"Company name {name!r} has no letters or digits.")
    return slug


def _sqlite_options(timeout: float) -> dict:
    # WAL lets readers run beside one writer; the busy timeout makes writers
    # queue instead of failing at once. Transactions stay DEFERRED here: the
    # session runner takes the write lock up front for its own transactions.
    return {
        "timeout": timeout,
        "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL",
    }


def _config(url: str, conn_max_age: int, sqlite_timeout: float) -> dict:
    cfg = dj_database_url.parse(url, conn_max_age=conn_max_age)
    if cfg["ENGINE"] == "django.db.backends.sqlite3":
        Path(cfg["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        cfg["OPTIONS"] = _sqlite_options(sqlite_timeout)
    else:
        # A persistent connection the server dropped (a restart, a terminated backend) is replaced
        # before its next use instead of failing the next session that touches it.
        cfg["CONN_HEALTH_CHECKS"] = True
    cfg["ATOMIC_REQUESTS"] = False
    return cfg


def build(base_dir: Path, environ=os.environ) -> tuple[dict, dict]:
    """Return ``(DATABASES, SESSIONS_COMPANIES)`` from the environment."""
    data_dir = Path(environ.get("SESSIONS_DATA_DIR", base_dir / "var"))
    conn_max_age = int(environ.get("CONN_MAX_AGE", "60"))
    sqlite_timeout = float(environ.get("SQLITE_TIMEOUT", "20"))

    control_url = environ.get("DATABASE_URL", f"sqlite:///{data_dir / 'control.sqlite3'}")
    control = _config(control_url, conn_max_age, sqlite_timeout)
    if "REGISTRY_DATABASE_URL" in environ:
        registry = _config(environ["REGISTRY_DATABASE_URL"], conn_max_age, sqlite_timeout)
    else:
        registry = _config(control_url, conn_max_age, sqlite_timeout)
        name = Path(registry["NAME"])
        if registry["ENGINE"] == "django.db.backends.sqlite3":
            registry["NAME"] = str(name.with_name("registry.sqlite3"))
        else:
            registry["NAME"] = f"{registry['NAME']}_registry"
    databases = {"default": control, "registry": registry}

    companies = {}
    template = environ.get("COMPANY_DATABASE_URL", "")
    names = [n.strip() for n in environ.get("SESSIONS_COMPANIES", DEFAULT_COMPANIES).split(",")]
    for name in filter(None, names):
        slug = slugify_company(name)
        alias = f"company_{slug}"
        if alias in databases:
            raise ValueError(f"Companies {name!r} and another map to the same alias {alias!r}.")
        url = environ.get(f"COMPANY_{slug.upper()}_DATABASE_URL")
        if not url and template:
            url = template.format(slug=slug)
        if not url:
            url = f"sqlite:///{data_dir / f'company_{slug}.sqlite3'}"
        databases[alias] = _config(url, conn_max_age, sqlite_timeout)
        companies[name] = alias
    return databases, companies


def with_query_defaults(url: str, **defaults: str) -> str:
    """Return ``url`` with ``defaults`` added to its query string where it does not set them."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for key, value in defaults.items():
        query.setdefault(key, value)
    return urlunsplit(parts._replace(query=urlencode(query)))
