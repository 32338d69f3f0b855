from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="sessions_app:dashboard", permanent=False)),
    path("admin/", admin.site.urls),
    path("sessions/jobs/", include("sessions_app.scheduling.urls")),
    path("sessions/", include("sessions_app.urls")),
    path("demo/", include("demo.urls")),
]
