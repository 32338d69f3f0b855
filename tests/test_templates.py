"""The app's pages wear the admin's look (its base template, themes) and a project may restyle them by name."""

import copy

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.urls import reverse

pytestmark = pytest.mark.django_db(databases="__all__")

PAGES = ("sessions_app:dashboard", "sessions_app:codeunits", "sessions_scheduling:jobs")


@pytest.fixture
def client():
    c = Client()
    c.force_login(User.objects.create_superuser("boss", password="pw"))
    return c


@pytest.mark.parametrize("name", PAGES)
def test_the_pages_extend_the_admins_base_with_its_theme_toggle(client, name):
    html = client.get(reverse(name)).content.decode()
    assert 'id="header"' in html and 'id="site-name"' in html  # admin/base_site.html's header
    assert "admin/css/base.css" in html and 'class="theme-toggle"' in html  # its colours and dark mode
    assert 'class="sessions-nav"' in html  # and the app's own navigation


@pytest.mark.parametrize("name", PAGES)
def test_a_project_overrides_the_base_by_its_name(client, name, tmp_path):
    (tmp_path / "sessions_app").mkdir()
    (tmp_path / "sessions_app" / "base.html").write_text(
        "<html><body><p>Shop style</p>{% block content %}{% endblock %}</body></html>"
    )
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [tmp_path, *templates[0]["DIRS"]]
    with override_settings(TEMPLATES=templates):
        html = client.get(reverse(name)).content.decode()
    assert "<p>Shop style</p>" in html and 'id="header"' not in html
