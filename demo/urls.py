from django.urls import path

from . import views

app_name = "demo"

urlpatterns = [
    path("customers/", views.customer_list, name="customers"),
    path("customers/the-works/", views.start_the_works, name="start_the_works"),
    path("customers/recalculate/", views.recalculate_all, name="recalculate_all"),
    path("the-works/<int:session_id>/", views.works_status, name="works_status"),
]
