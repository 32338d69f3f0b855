"""The app installed into a project that is not ours, the way a new user does it.

The wheel is built from a copy of the repository, installed into a fresh venv (the running test's Python, and
its Django version), and added to a ``django-admin startproject`` project with an app of its own. Only the
documented settings are appended to the generated ``settings.py``. Then: migrations for every alias,
``check``, a real ``qcluster``, one ``start_session --wait`` in the second company, its row read straight from
that company's SQLite file, and the app's pages rendered for a staff user.

Nothing of the repository is importable in that venv: every command runs the venv's own Python in the
project's directory, with an environment cleared of this test run's Django and app variables.
"""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import django
import pytest

REPO = Path(__file__).resolve().parent.parent

# What a user's project is given in its settings.py: appended to the file startproject wrote.
SETTINGS_ADDITIONS = """

# --- django-background-sessions -------------------------------------------------

INSTALLED_APPS += [
    "django_htmx",
    "django_q",
    "sessions_app",
    "sessions_app.scheduling",  # scheduled tasks and the job queue: after sessions_app
    "shop_app",
]

# The current company is chosen per request, after the user is known.
_auth = MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware")
MIDDLEWARE[_auth + 1 : _auth + 1] = [
    "django_htmx.middleware.HtmxMiddleware",
    "sessions_app.middleware.CurrentCompanyMiddleware",
]
TEMPLATES[0]["OPTIONS"]["context_processors"].append("sessions_app.middleware.current_company_context")


def _sqlite(name):
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / f"{name}.sqlite3"}


DATABASES = {
    "default": _sqlite("db"),  # users, admin, company access
    "registry": _sqlite("registry"),  # the session registry and django-q2's queue: its own file
    "north": _sqlite("north"),  # one database per company
    "south": _sqlite("south"),
}
SESSIONS_COMPANIES = {"North Shop": "north", "South Shop": "south"}  # company name -> database alias
DATABASE_ROUTERS = ["sessions_app.companies.CompanyRouter"]

Q_CLUSTER = {
    "name": "shop",
    "workers": 2,
    "orm": "registry",  # django-q2's queue lives in the registry database
    "broker_class": "sessions_app.brokers.GuardedORM",  # reads queued sessions; runs registered codeunits only
    "timeout": 12 * 3600 + 60,  # django-q2 warns unless timeout is set and retry is longer
    "retry": 24 * 3600 + 600,  # plain async_task calls only: a session is taken once, never redelivered
}

LOGIN_URL = "sessions_app:login"  # the app's own sign-in page, for users who are not staff too
"""

URLS = """\
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("sessions/", include("sessions_app.urls")),
    path("sessions/jobs/", include("sessions_app.scheduling.urls")),
]
"""

MODELS = """\
from django.db import models

from sessions_app.models import CompanyModel


class Order(CompanyModel):
    \"\"\"A company-scoped table: each company's orders are in its own database.\"\"\"

    no = models.CharField(max_length=20, unique=True)
    customer = models.CharField(max_length=100)
    session_id = models.BigIntegerField(null=True)

    def __str__(self):
        return self.no
"""

CODEUNITS = """\
from sessions_app.codeunits import codeunit
from sessions_app.records import Code, ParameterRecord, Text

from .models import Order


class OrderParameters(ParameterRecord):
    order_no = Code(20)
    customer = Text(100)


@codeunit(50200, "Create Order", params=OrderParameters)
def create_order(rec, session):
    \"\"\"Insert one order in the session's company.\"\"\"
    order = Order.objects.create(no=rec.order_no, customer=rec.customer, session_id=session.id)
    session.log(f"order {order.no} in {session.company}")
    return {"order": order.no}
"""

# Run by the venv's Python in the project directory: a staff user (not a superuser) who may see sessions in
# one company, the app's pages as that user and as nobody, and which UserAdmin the admin has.
RENDER_PAGES = """\
import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
import django

django.setup()

from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.test import Client

import sessions_app
from sessions_app.models import CompanyAccess

session_id, company = int(sys.argv[1]), sys.argv[2]
clerk = User.objects.create_user("clerk", is_staff=True)
for app_label, codename in [
    ("sessions_app", "view_backgroundsession"),
    ("sessions_scheduling", "view_jobqueueentry"),
    ("sessions_scheduling", "view_scheduledtask"),
]:
    clerk.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
CompanyAccess.objects.create(user=clerk, company=company)

pages = {}
anonymous = Client(HTTP_HOST="localhost", raise_request_exception=False)
response = anonymous.get("/sessions/")
pages["anonymous /sessions/"] = {"status": response.status_code, "location": response.get("Location", "")}

client = Client(HTTP_HOST="localhost", raise_request_exception=False)
client.force_login(clerk)
for url, headers in [
    ("/sessions/", {}),
    (f"/sessions/{session_id}/", {}),
    (f"/sessions/{session_id}/live/", {"HX-Request": "true"}),
    ("/sessions/table/", {"HX-Request": "true"}),
    ("/sessions/codeunits/", {}),
    ("/sessions/jobs/", {}),
    ("/admin/", {}),
    ("/admin/sessions_app/backgroundsession/", {}),
]:
    response = client.get(url, headers=headers)
    pages[url] = {"status": response.status_code, "content": response.content.decode("utf-8", "replace")}

registered = admin.site._registry[User].__class__
print(json.dumps({
    "pages": pages,
    "user_admin": f"{registered.__module__}.{registered.__qualname__}",
    "sessions_app": sessions_app.__file__,
}))
"""

# Variables of this test run that must not reach the user's project.
CLEARED = {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DATABASE_URL", "REDIS_URL"}
CLEARED_PREFIXES = ("SESSIONS_", "Q_", "COMPANY_", "REGISTRY_", "DJANGO_")


def _env(venv: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED and not k.startswith(CLEARED_PREFIXES)}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run(args, *, cwd, env=None, timeout=300) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-4000:]}"
        )
    return proc


def _wait_for(predicate, timeout: float, message: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
    return value


def _rows(db: Path, sql: str, params=()) -> list:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _tables(db: Path) -> set[str]:
    return {name for (name,) in _rows(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def _stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM to the cluster, which stops its workers; SIGKILL to its process group if it is not gone in time."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group start_new_session gave it: the cluster and its workers
        proc.wait(timeout=10)


# Top-level entries of the working tree that are not in a fresh checkout (or not needed to build the wheel):
# dot directories (.git, virtualenvs, caches) and build output. setuptools reuses a build/ it finds, stale
# files and all; building a copy leaves the repository's own build/ and *.egg-info alone.
_NOT_CHECKED_OUT = ("var", "build", "dist", "node_modules")


def _ignore(directory: str, names: list[str]) -> set[str]:
    ignored = {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
    if Path(directory) == REPO:
        ignored |= {n for n in names if n.startswith(".") or n in _NOT_CHECKED_OUT or n.endswith(".egg-info")}
    return ignored


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=_ignore)
    wheels = tmp / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", wheels, src], cwd=tmp, timeout=300)
    (wheel,) = wheels.glob("django_background_sessions-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    top_level = {name.split("/", 1)[0] for name in names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"sessions_app"}, sorted(top_level)
    for template in ("sessions_app/base.html", "sessions_app/dashboard.html", "sessions_app/session.html"):
        assert f"sessions_app/templates/{template}" in names, f"{template} is not in the wheel"
    assert "sessions_app/scheduling/templates/sessions_app/jobs.html" in names
    return wheel


def test_the_readme_gives_the_settings_urls_model_and_codeunit_this_test_tries():
    """README's "Add it to your project" is what the test below runs: a change to one must reach the other."""
    readme = (REPO / "README.md").read_text()
    for name, text in {"settings": SETTINGS_ADDITIONS, "urls": URLS, "models": MODELS, "codeunits": CODEUNITS}.items():
        body = text.strip().split("\n", 2)[-1] if name == "settings" else text.strip()
        assert body in readme, f"README.md no longer shows the {name} this test installs"


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_the_wheel_installs_into_a_new_project(tmp_path):
    started = time.monotonic()
    wheel = _build_wheel(tmp_path)

    # A fresh venv on the running test's Python, with the wheel and the running test's Django.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path, timeout=120)
    python = venv / "bin" / "python"
    env = _env(venv)
    _run(
        [python, "-m", "pip", "install", "--quiet", wheel, f"Django=={django.__version__}"],
        cwd=tmp_path,
        env=env,
        timeout=400,
    )
    probe = (
        "import django, json, sys, sysconfig"
        "; print(json.dumps([sys.version, django.__version__, sysconfig.get_path('purelib')]))"
    )
    version, django_version, purelib = json.loads(_run([python, "-c", probe], cwd=tmp_path, env=env).stdout)
    assert (version, django_version) == (sys.version, django.__version__)
    site_packages = Path(purelib)
    installed = {p.name.removesuffix(".py") for p in site_packages.iterdir()}
    assert "sessions_app" in installed
    not_ours = installed & {"project", "demo", "bench", "tests"}
    assert not not_ours, f"the wheel installed {sorted(not_ours)} into site-packages"

    # The user's project and an app of its own.
    base = tmp_path / "shop"
    base.mkdir()
    _run([venv / "bin" / "django-admin", "startproject", "shop", base], cwd=tmp_path, env=env)
    manage = [python, base / "manage.py"]
    _run([*manage, "startapp", "shop_app"], cwd=base, env=env)
    (base / "shop_app" / "models.py").write_text(MODELS)
    (base / "shop_app" / "codeunits.py").write_text(CODEUNITS)
    settings_py = base / "shop" / "settings.py"
    settings_py.write_text(settings_py.read_text() + SETTINGS_ADDITIONS)
    (base / "shop" / "urls.py").write_text(URLS)

    _run([*manage, "makemigrations", "shop_app"], cwd=base, env=env)
    assert (base / "shop_app" / "migrations" / "0001_initial.py").exists()
    # The installed apps' own migrations are complete: the user's makemigrations never writes into site-packages.
    _run([*manage, "makemigrations", "--check", "--dry-run"], cwd=base, env=env)
    migrated = _run([*manage, "migrate_all"], cwd=base, env=env)
    assert "Migrated 4 databases." in migrated.stdout, migrated.stdout
    # Each alias got its own tables: the orders in the companies only, the queue in the registry only.
    assert "shop_app_order" in _tables(base / "north.sqlite3")
    assert "shop_app_order" in _tables(base / "south.sqlite3")
    assert "shop_app_order" not in _tables(base / "db.sqlite3")
    assert "shop_app_order" not in _tables(base / "registry.sqlite3")
    assert "django_q_ormq" in _tables(base / "registry.sqlite3")
    assert "sessions_app_backgroundsession" in _tables(base / "registry.sqlite3")
    assert "auth_user" in _tables(base / "db.sqlite3")
    check = _run([*manage, "check"], cwd=base, env=env)
    assert "System check identified no issues" in check.stdout, check.stdout + check.stderr
    assert check.stderr.strip() == "", check.stderr  # no warnings either (django-q2's, deprecations)
    listed = _run([*manage, "codeunits", "--json"], cwd=base, env=env)
    assert "Create Order" in listed.stdout, listed.stdout

    log_path = tmp_path / "qcluster.log"
    with open(log_path, "wb") as log:
        cluster = subprocess.Popen(
            [str(a) for a in (*manage, "qcluster")],
            cwd=base,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def tail() -> str:
            return "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])

        _wait_for(
            lambda: b"running." in log_path.read_bytes() or cluster.poll() is not None,
            timeout=60,
            message="the qcluster to start",
        )
        assert cluster.poll() is None, f"qcluster exited with {cluster.returncode}:\n{tail()}"

        start_session = [
            *map(str, manage),
            "start_session",
            "Create Order",
            "--company",
            "South Shop",
            "--param",
            "order_no=so-1001",
            "--param",
            "customer=Jane Doe",
            "--wait",
        ]
        try:
            started_session = subprocess.run(
                start_session, cwd=base, env=env, capture_output=True, text=True, timeout=120
            )
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"start_session --wait did not return in 120 s: {e.stdout}\n--- qcluster\n{tail()}")
        out = started_session.stdout
        assert started_session.returncode == 0, f"{out}\n{started_session.stderr}\n--- qcluster\n{tail()}"
        session_id = int(out.splitlines()[0])
        assert f"Session {session_id} succeeded" in out, out
        assert "order SO-1001 in South Shop" in out, out  # the live log

        # The row is in South Shop's own file, and only there.
        assert _rows(base / "south.sqlite3", "SELECT no, customer, session_id FROM shop_app_order") == [
            ("SO-1001", "Jane Doe", session_id)
        ]
        assert _rows(base / "north.sqlite3", "SELECT count(*) FROM shop_app_order") == [(0,)]
        assert _rows(
            base / "registry.sqlite3",
            "SELECT codeunit_id, codeunit_name, company, status FROM sessions_app_backgroundsession WHERE id = ?",
            (session_id,),
        ) == [(50200, "Create Order", "South Shop", "succeeded")]

        (base / "render_pages.py").write_text(RENDER_PAGES)
        rendered = json.loads(
            _run([python, "render_pages.py", session_id, "South Shop"], cwd=base, env=env, timeout=120).stdout
        )
        assert Path(rendered["sessions_app"]).is_relative_to(site_packages), rendered["sessions_app"]
        assert rendered["user_admin"] == "django.contrib.auth.admin.UserAdmin"
        pages = rendered["pages"]
        anonymous = pages.pop("anonymous /sessions/")
        assert anonymous == {"status": 302, "location": "/sessions/login/?next=/sessions/"}
        for url, page in pages.items():
            assert "TemplateDoesNotExist" not in page["content"], f"{url}:\n{page['content'][:3000]}"
            assert page["status"] == 200, f"{url} answered {page['status']}:\n{page['content'][:3000]}"
        for url in ("/sessions/", f"/sessions/{session_id}/", "/sessions/codeunits/"):
            assert "Create Order" in pages[url]["content"], url
        assert "South Shop" in pages[f"/sessions/{session_id}/"]["content"]
        # The middleware chose the clerk's one company, and the context processor put it in the header.
        assert '<span class="company" id="current-company">South Shop</span>' in pages["/sessions/"]["content"]
        assert cluster.poll() is None, f"qcluster exited with {cluster.returncode}:\n{tail()}"
    finally:
        _stop(cluster)
    print(f"client project test took {time.monotonic() - started:.1f}s")
