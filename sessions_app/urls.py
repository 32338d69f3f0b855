"""The URLs of the app's pages.

Every one refuses a NUL character in its input (``forms.refuse_nul``) and answers "not allowed" and
"not found" with the app's own page (``errors.app_pages``).
"""

from django.urls import path

from . import views
from .errors import app_urls

app_name = "sessions_app"

urlpatterns = app_urls(
    [
        path("", views.dashboard, name="dashboard"),
        path("login/", views.LoginView.as_view(), name="login"),
        path("health/", views.health_view, name="health"),
        path("health/live/", views.liveness_view, name="liveness"),
        path("logout/", views.LogoutView.as_view(), name="logout"),
        path("table/", views.dashboard_table, name="dashboard_table"),
        path("company/", views.switch_company, name="switch_company"),
        path("codeunits/", views.codeunit_list, name="codeunits"),
        path("codeunits/<int:codeunit_id>/start/", views.codeunit_start, name="start"),
        path("<int:session_id>/", views.session_detail, name="session"),
        path("<int:session_id>/live/", views.session_live, name="session_live"),
        path("<int:session_id>/status.json", views.session_status, name="session_status"),
        path("<int:session_id>/stop/", views.stop, name="stop"),
        path("<int:session_id>/rerun/", views.rerun, name="rerun"),
        path("groups/<int:group_id>/", views.group_detail, name="group"),
        path("groups/<int:group_id>/live/", views.group_live, name="group_live"),
        path("groups/<int:group_id>/stop/", views.stop_group, name="stop_group"),
    ]
)
