from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from rest_framework.routers import SimpleRouter

from cleanup.views import CleanupViewSet
from console.views import home
from core.views import metrics, not_found
from events.consent_views import ConsentViewSet
from events.list_member_views import ListMembersViewSet
from events.views import EventViewSet, ProfileViewSet
from klaviyo_backend.health import HealthView
from klaviyo_sync.views import EventReadViewSet, KlaviyoViewSet


class OptionalSlashRouter(SimpleRouter):
    """Every path works with and without a trailing slash, as the old service's did."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("events", EventViewSet, basename="events")
# Before /profiles/{email}: /profiles/subscriptions, ... are the consent endpoints.
router.register("profiles", ConsentViewSet, basename="consent")
router.register("profiles", ProfileViewSet, basename="profiles")
router.register("lists", ListMembersViewSet, basename="lists")
router.register("cleanup", CleanupViewSet, basename="cleanup")
router.register("klaviyo", KlaviyoViewSet, basename="klaviyo")
# The events' read endpoints are klaviyo_sync's (Klaviyo first): the same /events prefix and
# route names (events-count, ...), from a router of their own since one router takes each
# basename once.
event_reads_router = OptionalSlashRouter()
event_reads_router.register("events", EventReadViewSet, basename="events")

handler400 = "core.errors.handler400"
handler403 = "core.errors.handler403"
handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"

urlpatterns = [
    # The API first: the single-event path matches at its first pattern, not after ten others.
    path("", include(router.urls)),
    path("", include(event_reads_router.urls)),
    path("", home, name="home"),
    path("admin/sync-health/", include("console.urls")),
    path("admin/", admin.site.urls),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    # Split: Swagger UI's set-up script comes from ?script, not inline (the CSP allows none).
    re_path(r"^api/?$", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    re_path(
        r"^api/redoc/?$",
        SpectacularRedocView.as_view(url_name="schema", template_name="core/redoc.html"),
        name="redoc",
    ),
    re_path(r"^health/?$", HealthView.as_view(), name="health"),
    re_path(r"^metrics/?$", metrics, name="metrics"),
    re_path(r"^(?P<path>.*)$", not_found),
]
