from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

# The admin's sign-in page says where people who are not staff sign in: the app's own page.
admin.site.login_template = "sessions_app/admin_login.html"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="sessions_app:dashboard", permanent=False)),
    path("admin/", admin.site.urls),
    path("sessions/jobs/", include("sessions_app.scheduling.urls")),
    path("sessions/", include("sessions_app.urls")),
    path("demo/", include("demo.urls")),
]

# The rest of the site (the admin, the demo's pages) answers "not allowed" and "not found" as the app's pages do.
handler403 = "sessions_app.errors.permission_denied"
handler404 = "sessions_app.errors.page_not_found"
