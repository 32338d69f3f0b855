"""The URLs of the job queue page; each refuses a NUL character and has the app's error pages, as the engine's do."""

from django.urls import path

from sessions_app.errors import app_urls

from . import views

app_name = "sessions_scheduling"

urlpatterns = app_urls(
    [
        path("", views.jobs, name="jobs"),
        path("live/", views.jobs_live, name="jobs_live"),
        path("add/", views.add_entry, name="add_entry"),
        path("add/params/", views.job_params, name="job_params"),
        path("<int:entry_id>/<slug:action>/", views.entry_action, name="entry_action"),
    ]
)
