"""/klaviyo: the connection check, Klaviyo's own data (metrics, a profile, events, lists), a test
send. Klaviyo failing answers 502, no key configured 503, both in the error shape. And the
questions about events (/events/metrics, count, emails, profiles/...): Klaviyo first, the local
database when Klaviyo fails or is too slow. OpenAPI declarations: klaviyo_sync/openapi.py."""

from collections.abc import Callable
from typing import Any, TypeVar

from django.utils import timezone
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import BadGateway, ServiceUnavailable
from core.strict_input import EMAIL_PATH_REGEX
from klaviyo_client.errors import KlaviyoError, KlaviyoNotConfigured
from klaviyo_sync import answers, openapi
from klaviyo_sync import serializers as s
from klaviyo_sync.passthrough import (
    klaviyo_connection_check,
    klaviyo_events_page,
    klaviyo_lists_page,
    klaviyo_metrics_list,
    klaviyo_profile_get,
)
from klaviyo_sync.services import klaviyo_sync_test

T = TypeVar("T")


def from_klaviyo(read: Callable[[], T]) -> T:
    try:
        return read()
    except KlaviyoNotConfigured as error:
        raise ServiceUnavailable(str(error)) from None
    except KlaviyoError as error:
        if error.status == 400 and _refused_parameter(error) == "page[cursor]":
            # The cursor is the one value passed to Klaviyo as the client sent it: its fault.
            raise ValidationError(
                {"cursor": "must be the nextCursor of a previous answer"}
            ) from None
        raise BadGateway(f"Klaviyo failed: {error.summary}") from None


def _refused_parameter(error: KlaviyoError) -> str | None:
    sources = [item.get("source") or {} for item in error.errors if isinstance(item, dict)]
    return next((src.get("parameter") for src in sources if src.get("parameter")), None)


class KlaviyoViewSet(viewsets.ViewSet):
    """Klaviyo itself, through the service's key: diagnostics and Klaviyo's copy of the data."""

    @openapi.klaviyo_test_connection
    @action(detail=False, methods=["get"], url_path="test-connection")
    def test_connection(self, request: Request) -> Response:
        return Response(s.ConnectionCheckSerializer(klaviyo_connection_check()).data)

    @openapi.klaviyo_metrics
    @action(detail=False, methods=["get"])
    def metrics(self, request: Request) -> Response:
        metrics = from_klaviyo(klaviyo_metrics_list)
        return Response(s.KlaviyoMetricsSerializer({"metrics": metrics}).data)

    @openapi.klaviyo_profile
    @action(detail=False, methods=["get"], url_path=rf"profiles/(?P<email>{EMAIL_PATH_REGEX})")
    def profile(self, request: Request, email: str) -> Response:
        lookup = s.ProfileLookupSerializer(data={"email": email})
        lookup.is_valid(raise_exception=True)
        address = lookup.validated_data["email"]
        profile = from_klaviyo(lambda: klaviyo_profile_get(email=address))
        if profile is None:
            raise NotFound(f"Klaviyo has no profile with email {address}")
        return Response(s.KlaviyoProfileSerializer(profile).data)

    @openapi.klaviyo_events
    @action(detail=False, methods=["get"])
    def events(self, request: Request) -> Response:
        query = s.KlaviyoEventsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params: dict[str, Any] = query.validated_data
        events, next_cursor = from_klaviyo(
            lambda: klaviyo_events_page(
                metric=params.get("metric"),
                email=params.get("email"),
                since=params.get("since"),
                until=params.get("until"),
                cursor=params.get("cursor"),
                page_size=params["page_size"],
            )
        )
        page = {"events": events, "next_cursor": next_cursor}
        return Response(s.KlaviyoEventsPageSerializer(page).data)

    @openapi.klaviyo_lists
    @action(detail=False, methods=["get"])
    def lists(self, request: Request) -> Response:
        query = s.KlaviyoListsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params: dict[str, Any] = query.validated_data
        lists, next_cursor = from_klaviyo(
            lambda: klaviyo_lists_page(
                cursor=params.get("cursor"), page_size=params["page_size"], name=params.get("name")
            )
        )
        return Response(
            s.KlaviyoListsPageSerializer({"lists": lists, "next_cursor": next_cursor}).data
        )

    @openapi.klaviyo_sync_test
    @action(detail=False, methods=["post"], url_path="sync-test")
    def sync_test(self, request: Request) -> Response:
        body = s.SyncTestInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        email, event_name = body.validated_data["email"], body.validated_data["event_name"]
        sent_at = timezone.now()
        result = from_klaviyo(lambda: klaviyo_sync_test(email=email, event_name=event_name))
        answer = {**result.__dict__, "email": email, "event_name": event_name, "sent_at": sent_at}
        return Response(s.SyncTestOutputSerializer(answer).data)


class EventReadViewSet(viewsets.ViewSet):
    """Questions about the events: Klaviyo first, the local database when Klaviyo fails or is
    too slow. Routed under /events beside the ingest (events.views.EventViewSet)."""

    @openapi.events_metrics
    @action(detail=False, methods=["get"])
    def metrics(self, request: Request) -> Response:
        answer = answers.metrics_read()
        return Response(s.MetricsOutputSerializer(answer).data)

    @openapi.events_count
    @action(detail=False, methods=["get"])
    def count(self, request: Request) -> Response:
        query = s.DayQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        answer = answers.metric_day_count_read(
            metric=query.validated_data["metric"],
            day=query.validated_data["date"],
            tz=query.validated_data["tz"],
        )
        return Response(s.CountOutputSerializer(answer).data)

    @openapi.events_emails
    @action(detail=False, methods=["get"])
    def emails(self, request: Request) -> Response:
        query = s.EmailsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        answer = answers.metric_day_emails_read(
            metric=query.validated_data["metric"],
            day=query.validated_data["date"],
            tz=query.validated_data["tz"],
            after=query.validated_data.get("cursor"),
            limit=query.validated_data["limit"],
        )
        return Response(s.EmailsOutputSerializer(answer).data)

    @openapi.events_profile_attributes
    @action(
        detail=False,
        methods=["get"],
        url_path=rf"profiles/(?P<email>{EMAIL_PATH_REGEX})/attributes",
        url_name="profile-attributes",
    )
    def profile_attributes(self, request: Request, email: str) -> Response:
        return _profile_answer(
            email, answers.profile_attributes_read, s.ProfileAttributesOutputSerializer
        )

    @openapi.events_profile_metrics
    @action(
        detail=False,
        methods=["get"],
        url_path=rf"profiles/(?P<email>{EMAIL_PATH_REGEX})/metrics",
        url_name="profile-metrics",
    )
    def profile_metrics(self, request: Request, email: str) -> Response:
        return _profile_answer(
            email, answers.profile_metrics_read, s.ProfileMetricsOutputSerializer
        )


def _profile_answer(
    raw_email: str, read: Callable[..., Any], output: type[serializers.Serializer]
) -> Response:
    """The answer of a read about the profile with this email; 404 when nothing knows it."""
    path = s.ProfileEmailSerializer(data={"email": raw_email})
    path.is_valid(raise_exception=True)
    address = path.validated_data["email"]
    answer = read(email=address)
    if answer is None:
        raise NotFound(f"Profile {address} not found")
    return Response(output(answer).data)
