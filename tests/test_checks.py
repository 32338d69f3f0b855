"""System checks: each integration mistake is reported with its id and a hint; the test settings have none."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.test import override_settings

from sessions_app import checks
from sessions_app.codeunits import Codeunit, Registry, codeunit

GOOD_COMPANIES = {"CRONUS": "company_cronus", "CRONUS UK": "company_cronus_uk"}


def sessions_messages():
    return [m for m in run_checks(tags=["sessions_app"]) if m.id.startswith("sessions_app.")]


def ids(messages):
    return {m.id for m in messages}


def assert_reported(messages, check_id, *words):
    found = [m for m in messages if m.id == check_id]
    assert found, f"{check_id} not in {[(m.id, m.msg) for m in messages]}"
    assert all(m.hint for m in found)
    for word in words:
        assert any(word in m.msg for m in found), (word, [m.msg for m in found])
    return found


def q_cluster(**changes):
    """The tests' Q_CLUSTER with ``changes`` (None removes a key); with ``orm``, an ORM broker whatever the set-up."""
    q = {**settings.Q_CLUSTER, **changes}
    if "orm" in changes:
        q.pop("redis", None)
        if "broker_class" not in changes:
            q["broker_class"] = "sessions_app.brokers.GuardedORM"
    return {k: v for k, v in q.items() if v is not None}


# --- the settings the tests run with ---------------------------------------------------------


def test_the_test_settings_have_no_sessions_app_messages():
    assert sessions_messages() == []


@pytest.mark.django_db(databases="__all__")  # a plain check runs Django's model checks, which ask the databases
def test_the_checks_run_with_a_plain_check_and_with_their_tag():
    with override_settings(DATABASE_ROUTERS=[]):
        assert "sessions_app.E001" in ids(run_checks())
        assert "sessions_app.E001" in ids(run_checks(tags=["sessions_app"]))


# --- E001: the router ------------------------------------------------------------------------


def test_a_missing_router():
    # Django itself imports the routers when the setting changes: another, real, router class.
    with override_settings(DATABASE_ROUTERS=["django.db.utils.ConnectionRouter"]):
        assert_reported(checks.check_router(), "sessions_app.E001", "'django.db.utils.ConnectionRouter'")


def test_the_router_as_an_instance_is_accepted():
    from sessions_app.companies import CompanyRouter

    with override_settings(DATABASE_ROUTERS=[CompanyRouter()]):
        assert checks.check_router() == []


# --- E002-E007: companies and the registry alias ---------------------------------------------


def test_no_companies():
    with override_settings(SESSIONS_COMPANIES={}):
        assert_reported(checks.check_companies(), "sessions_app.E002", "{}")


def test_companies_as_a_list():
    with override_settings(SESSIONS_COMPANIES=["CRONUS", "CRONUS UK"]):
        (error,) = assert_reported(checks.check_companies(), "sessions_app.E002", "list")
    assert "'CRONUS UK': 'company_cronus_uk'" in error.hint


def test_a_company_mapped_to_something_other_than_an_alias():
    with override_settings(SESSIONS_COMPANIES={**GOOD_COMPANIES, "CRONUS DE": 3}):
        assert_reported(checks.check_companies(), "sessions_app.E002", "'CRONUS DE'")


def test_a_company_alias_not_in_databases():
    with override_settings(SESSIONS_COMPANIES={**GOOD_COMPANIES, "CRONUS DE": "company_cronus_de"}):
        (error,) = assert_reported(checks.check_companies(), "sessions_app.E003", "'company_cronus_de'")
    assert "DATABASES['company_cronus_de']" in error.hint


def test_the_registry_alias_not_in_databases():
    with override_settings(SESSIONS_REGISTRY_ALIAS="queue"):
        assert_reported(checks.check_registry_alias(), "sessions_app.E004", "'queue'")


def test_the_registry_alias_shared_with_a_company():
    with override_settings(SESSIONS_REGISTRY_ALIAS="company_cronus"):
        assert_reported(checks.check_registry_alias(), "sessions_app.E005", "'company_cronus'", "'CRONUS'")


def test_the_registry_on_default():
    with override_settings(SESSIONS_REGISTRY_ALIAS="default"):
        assert_reported(checks.check_registry_alias(), "sessions_app.E005", "'default'")


def test_two_companies_sharing_an_alias():
    with override_settings(SESSIONS_COMPANIES={"CRONUS": "company_cronus", "CRONUS UK": "company_cronus"}):
        (error,) = assert_reported(checks.check_companies(), "sessions_app.E006", "'CRONUS UK'", "'company_cronus'")
    assert "'CRONUS UK': 'company_cronus_uk'" in error.hint


def test_a_company_on_default():
    with override_settings(SESSIONS_COMPANIES={**GOOD_COMPANIES, "CRONUS DE": "default"}):
        assert_reported(checks.check_companies(), "sessions_app.E007", "'CRONUS DE'")


# --- E008, E009, E013, E016, W002: django-q2 -------------------------------------------------


def test_the_orm_broker_on_another_alias():
    with override_settings(Q_CLUSTER=q_cluster(orm="default")):
        (error,) = assert_reported(checks.check_django_q(), "sessions_app.E008", "'default'", "'registry'")
    assert "not even in DATABASES" not in error.msg
    assert "Q_CLUSTER[\"orm\"] = 'registry'" in error.hint


def test_the_orm_broker_on_an_alias_not_in_databases():
    with override_settings(Q_CLUSTER=q_cluster(orm="queue")):
        assert_reported(checks.check_django_q(), "sessions_app.E008", "'queue'", "not even in DATABASES")


def test_a_broker_class_that_cannot_be_imported():
    with override_settings(Q_CLUSTER=q_cluster(broker_class="sessions_app.brokers.Nope")):
        assert_reported(checks.check_django_q(), "sessions_app.E009", "sessions_app.brokers.Nope")


def test_a_broker_class_that_is_no_broker():
    with override_settings(Q_CLUSTER=q_cluster(broker_class="sessions_app.companies.CompanyRouter")):
        assert_reported(checks.check_django_q(), "sessions_app.E009", "not a django-q2 broker")


def test_django_q_not_installed(monkeypatch):
    # Not override_settings(INSTALLED_APPS=...): that would run every app's ready() again.
    installed = checks.apps.is_installed
    monkeypatch.setattr(checks.apps, "is_installed", lambda name: name != "django_q" and installed(name))
    messages = checks.check_django_q()
    assert_reported(messages, "sessions_app.E013", "'django_q'")
    assert ids(messages) == {"sessions_app.E013"}


def test_the_guarded_brokers_are_fine_whatever_their_retry():
    # A session is never delivered through django-q2's redelivering queue (its registry row is taken once,
    # or it is pushed once to Redis), so a short retry cannot run it twice.
    for retry in (None, 60, 3600, 7201):
        orm = q_cluster(orm="registry", retry=retry)
        with override_settings(Q_CLUSTER=orm, SESSIONS_MAX_TIMEOUT=timedelta(hours=2)):
            assert checks.check_django_q() == []
    redis = {
        "name": "sessions",
        "redis": "redis://127.0.0.1:6379/0",
        "broker_class": "sessions_app.brokers.GuardedRedis",
    }
    with override_settings(Q_CLUSTER=redis):
        assert checks.check_django_q() == []


def test_a_redis_broker_that_does_not_screen_tasks():
    plain = {"name": "sessions", "redis": "redis://127.0.0.1:6379/0"}
    with override_settings(Q_CLUSTER=plain):
        (warning,) = assert_reported(checks.check_django_q(), "sessions_app.W002", "redis_broker.Redis")
    assert "sessions_app.brokers.GuardedRedis" in warning.hint


def test_django_q2s_own_orm_broker_would_never_run_a_session():
    with override_settings(Q_CLUSTER=q_cluster(orm="registry", broker_class=None)):
        (error,) = assert_reported(checks.check_django_q(), "sessions_app.E016", "django_q.brokers.orm.ORM")
    assert "sessions_app.brokers.GuardedORM" in error.hint


# --- E017: the cluster's lock files -----------------------------------------------------------


def test_a_lock_folder_others_may_write_to(tmp_path):
    import os

    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with override_settings(SESSIONS_RUN_DIR=str(shared)):
        (error,) = assert_reported(checks.check_run_dir(), "sessions_app.E017", "is not private", "mode 777")
    assert "SESSIONS_RUN_DIR" in error.hint
    os.chmod(shared, 0o700)
    with override_settings(SESSIONS_RUN_DIR=str(shared)):
        assert checks.check_run_dir() == []
    with override_settings(SESSIONS_RUN_DIR=str(tmp_path / "not yet")):
        assert checks.check_run_dir() == [] and not (tmp_path / "not yet").exists()  # a check makes nothing


# --- E018: the host's name ---------------------------------------------------------------------


@pytest.mark.parametrize("host", ["pod a", "x" * 91, 42, "\t"])
def test_a_host_name_that_cannot_start_a_worker_name(host):
    with override_settings(SESSIONS_HOST=host):
        (error,) = assert_reported(checks.check_host(), "sessions_app.E018", "SESSIONS_HOST")
    assert "pod name" in error.hint


@pytest.mark.parametrize("host", [None, "", "pod-a", "web-7f9c.example.internal", "x" * 90])
def test_a_host_name_that_fits(host):
    with override_settings(SESSIONS_HOST=host):
        assert checks.check_host() == []


# --- E012: timeouts ----------------------------------------------------------------------------


def test_a_default_timeout_above_the_maximum():
    with override_settings(SESSIONS_DEFAULT_TIMEOUT=timedelta(hours=30)):
        assert_reported(checks.check_timeouts(), "sessions_app.E012", "1 day, 6:00:00")


def test_a_timeout_that_is_no_timedelta():
    with override_settings(SESSIONS_MAX_TIMEOUT=86400):
        assert_reported(checks.check_timeouts(), "sessions_app.E012", "SESSIONS_MAX_TIMEOUT", "86400")
        assert checks.check_django_q() == []  # the retry check leaves it to E012


# --- E010, E011, W003: the codeunit registry -------------------------------------------------
# Registry.register raises for two functions with one id or name; the same function registered
# again (stacked decorators, a module imported under two names) is let through.


def work(rec, session):
    pass


def other_work(rec, session):
    pass


STACKED = Registry()


@codeunit(50210, "Post Orders", registry=STACKED)
@codeunit(50211, "Post Orders", registry=STACKED)
def stacked(rec, session):
    pass


def test_stacked_decorators_are_reported_not_raised():
    assert_reported(checks.codeunit_messages(STACKED), "sessions_app.E011", "'Post Orders'", "50210", "50211")


def test_the_project_registry_is_consistent():
    assert checks.check_codeunits() == []


def test_a_codeunit_id_registered_twice():
    reg = Registry()
    reg.register(Codeunit(id=50200, name="Post Orders", func=work))
    reg.register(Codeunit(id=50200, name="Post Invoices", func=work))
    (error,) = assert_reported(checks.codeunit_messages(reg), "sessions_app.E010", "50200", "'Post Orders'")
    assert "'Post Invoices'" in error.msg


def test_a_codeunit_name_registered_twice():
    reg = Registry()
    reg.register(Codeunit(id=50201, name="Post Orders", func=work))
    reg.register(Codeunit(id=50202, name="Post Orders", func=work))
    messages = checks.codeunit_messages(reg)
    assert_reported(messages, "sessions_app.E011", "'Post Orders'", "50201", "50202")
    assert ids(messages) == {"sessions_app.E011"}


def test_one_function_as_two_codeunits():
    reg = Registry()
    reg.register(Codeunit(id=50203, name="Post Orders", func=work))
    reg.register(Codeunit(id=50204, name="Post Invoices", func=work))
    reg.register(Codeunit(id=50205, name="Other", func=other_work))
    messages = checks.codeunit_messages(reg)
    assert_reported(messages, "sessions_app.W003", "50203 Post Orders", "50204 Post Invoices")
    assert ids(messages) == {"sessions_app.W003"}


def test_registering_the_same_codeunit_again_is_no_clash():
    reg = Registry()
    reg.register(Codeunit(id=50206, name="Post Orders", func=work))
    reg.register(Codeunit(id=50206, name="Post Orders", func=work))
    reg.register(Codeunit(id=50207, name="Other", func=other_work))
    assert checks.codeunit_messages(reg) == []


# --- E014, E015, W004: the web pages ------------------------------------------------------------


def test_django_htmx_not_installed(monkeypatch):
    installed = checks.apps.is_installed
    monkeypatch.setattr(checks.apps, "is_installed", lambda name: name != "django_htmx" and installed(name))
    assert_reported(checks.check_web(), "sessions_app.E014", "'django_htmx'")


def test_the_company_middleware_missing_or_before_authentication():
    without = [m for m in settings.MIDDLEWARE if m != checks.MIDDLEWARE_PATH]
    with override_settings(MIDDLEWARE=without):
        assert_reported(checks.check_web(), "sessions_app.E015", "is not in MIDDLEWARE")
    with override_settings(MIDDLEWARE=[checks.MIDDLEWARE_PATH, *without]):
        assert_reported(checks.check_web(), "sessions_app.E015", "comes before")


def test_the_context_processor_missing():
    template = settings.TEMPLATES[0]
    options = {**template["OPTIONS"]}
    options["context_processors"] = [p for p in options["context_processors"] if p != checks.CONTEXT_PROCESSOR]
    with override_settings(TEMPLATES=[{**template, "OPTIONS": options}]):
        assert_reported(checks.check_web(), "sessions_app.W004", "context processors")
    assert checks.check_web() == []
