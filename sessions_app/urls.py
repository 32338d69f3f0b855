from django.urls import path

from . import views

app_name = "sessions_app"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("company/", views.switch_company, name="switch_company"),
    path("<int:session_id>/status.json", views.session_status, name="session_status"),
]
