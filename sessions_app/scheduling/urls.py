"""The URLs of the job queue page; each refuses a NUL character in its input, as the engine's pages do."""

from django.urls import path

from sessions_app.forms import refusing_nul

from . import views

app_name = "sessions_scheduling"

urlpatterns = refusing_nul(
    [
        path("", views.jobs, name="jobs"),
        path("add/", views.add_entry, name="add_entry"),
        path("add/params/", views.job_params, name="job_params"),
        path("<int:entry_id>/<slug:action>/", views.entry_action, name="entry_action"),
    ]
)
