from django.urls import path

from . import views

app_name = "sessions_scheduling"

urlpatterns = [
    path("", views.jobs, name="jobs"),
    path("add/", views.add_entry, name="add_entry"),
    path("add/params/", views.job_params, name="job_params"),
    path("<int:entry_id>/<slug:action>/", views.entry_action, name="entry_action"),
]
