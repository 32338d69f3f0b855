"""Companies as database aliases: routing, the current company, and where tables live."""

import pytest
from django.db import connections

from demo.models import Customer, SessionLog
from sessions_app.companies import all_companies, current_company, get_company, use_company
from sessions_app.exceptions import NoCurrentCompany, UnknownCompany
from sessions_app.models import BackgroundSession

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def tables(alias):
    with connections[alias].cursor() as cursor:
        return set(connections[alias].introspection.table_names(cursor))


def test_demo_companies_have_their_own_aliases_and_names_with_spaces_work():
    assert [(c.name, c.alias) for c in all_companies()] == [
        ("CRONUS", "company_cronus"),
        ("CRONUS UK", "company_cronus_uk"),
    ]
    with use_company("CRONUS UK") as company:
        assert current_company() == company == get_company("CRONUS UK")
        assert str(company) == "CRONUS UK"
    assert current_company() is None


def test_each_model_is_migrated_only_where_it_belongs():
    for company in all_companies():
        t = tables(company.alias)
        assert {"demo_customer", "demo_vendor", "demo_sessionlog"} <= t
        assert not t & {"auth_user", "sessions_app_backgroundsession", "django_q_ormq"}
    assert {"sessions_app_backgroundsession", "sessions_app_sessionevent", "django_q_ormq"} <= tables("registry")
    assert not tables("registry") & {"auth_user", "demo_customer"}
    assert "auth_user" in tables("default")
    assert not tables("default") & {"demo_customer", "sessions_app_backgroundsession"}


def test_no_current_company_is_a_clear_error_naming_the_model_and_writes_nothing():
    with pytest.raises(NoCurrentCompany, match=r"demo\.Customer is company-scoped"):
        Customer.objects.create(no="C1", name="nowhere")
    with pytest.raises(NoCurrentCompany, match=r"demo\.SessionLog"):
        list(SessionLog.objects.all())
    for company in all_companies():
        assert not Customer.objects.using(company.alias).exists()


def test_queries_go_to_the_current_company_database():
    with use_company("CRONUS"):
        Customer.objects.create(no="C1", name="in cronus")
    with use_company("CRONUS UK"):
        Customer.objects.create(no="C2", name="in uk")
        assert list(Customer.objects.values_list("no", flat=True)) == ["C2"]
    assert list(Customer.objects.using("company_cronus").values_list("no", flat=True)) == ["C1"]
    # A row loaded in one company is saved back there, whatever is current later.
    with use_company("CRONUS"):
        c1 = Customer.objects.get(no="C1")
    with use_company("CRONUS UK"):
        c1.name = "renamed"
        c1.save()
    assert Customer.objects.using("company_cronus").get(no="C1").name == "renamed"
    assert not Customer.objects.using("company_cronus_uk").filter(no="C1").exists()


def test_control_models_stay_on_their_databases_whatever_the_company():
    with use_company("CRONUS"):
        assert BackgroundSession.objects.all().db == "registry"
        from django.contrib.auth.models import User

        assert User.objects.all().db == "default"


@pytest.mark.parametrize("name", ["CRONUS US", "CRONUSUK", "", None, 5, "CRONUS UK "])
def test_unknown_companies_are_refused_with_the_name(name):
    with pytest.raises(UnknownCompany) as e:
        with use_company(name) if name is not None else use_company(object()):
            pass
    assert "does not exist" in str(e.value)


@pytest.mark.parametrize(
    "name, found",
    [("cronus", "CRONUS"), ("Cronus Uk", "CRONUS UK"), ("CRONUS UK", "CRONUS UK"), ("straße", "STRASSE")],
)
def test_company_names_match_in_any_case_and_give_the_configured_name(settings, name, found):
    settings.SESSIONS_COMPANIES = {**settings.SESSIONS_COMPANIES, "STRASSE": "company_cronus"}
    company = get_company(name)
    assert (company.name, company.alias) == (found, settings.SESSIONS_COMPANIES[found])
    with use_company(name) as current:
        assert current.name == found


def test_names_differing_only_in_case_are_refused_unless_exact(settings):
    from sessions_app.companies import AmbiguousCompany

    settings.SESSIONS_COMPANIES = {"CRONUS": "company_cronus", "Cronus": "company_cronus_uk"}
    assert get_company("CRONUS").alias == "company_cronus"  # an exact name still works
    assert get_company("Cronus").alias == "company_cronus_uk"
    with pytest.raises(AmbiguousCompany) as e:
        get_company("cronus")
    assert isinstance(e.value, UnknownCompany)
    assert "'CRONUS' and 'Cronus', which differ only in case" in str(e.value)
    assert "must differ by more than case" in str(e.value)


def test_use_company_nests_and_restores():
    with use_company("CRONUS"):
        with use_company("CRONUS UK"):
            assert current_company().name == "CRONUS UK"
        assert current_company().name == "CRONUS"
        with use_company(None):
            assert current_company() is None
