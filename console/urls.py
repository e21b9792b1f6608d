"""The dashboard's paths, below /admin/ and behind admin's login (staff only)."""

from django.contrib import admin
from django.urls import path

from console import views

app_name = "console"

urlpatterns = [
    path("", admin.site.admin_view(views.dashboard), name="dashboard"),
    path("refresh/", admin.site.admin_view(views.dashboard_refresh), name="refresh"),
    path("retry/", admin.site.admin_view(views.retry_reason), name="retry"),
    path("connection/", admin.site.admin_view(views.connection_test), name="connection"),
]
