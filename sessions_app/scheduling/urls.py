from django.urls import path

from . import views

app_name = "sessions_scheduling"

urlpatterns = [
    path("", views.jobs, name="jobs"),
]
