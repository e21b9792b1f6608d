"""/events: ingest and the questions about events. OpenAPI declarations: events/openapi.py."""

from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from events import openapi, reads
from events import read_serializers as rs
from events import serializers as s
from events.services import event_ingest, events_ingest_bulk


class EventViewSet(viewsets.ViewSet):
    """Customer events: ingest and questions about them."""

    @openapi.event_create
    def create(self, request: Request) -> Response:
        serializer = s.EventInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = event_ingest(data=serializer.validated_data)
        return Response(
            s.EventOutputSerializer(result.event).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )

    @openapi.events_bulk_create
    @action(detail=False, methods=["post"])
    def bulk(self, request: Request) -> Response:
        serializer = s.BulkEventsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        results = events_ingest_bulk(items=serializer.validated_data["events"])
        return Response(s.BulkEventsOutputSerializer(results).data, status=status.HTTP_201_CREATED)

    # --- Reads: Klaviyo first, the local database when Klaviyo fails or is too slow ------------

    @openapi.events_metrics
    @action(detail=False, methods=["get"])
    def metrics(self, request: Request) -> Response:
        answer = reads.metrics_read()
        return Response(rs.MetricsOutputSerializer(answer).data)

    @openapi.events_count
    @action(detail=False, methods=["get"])
    def count(self, request: Request) -> Response:
        query = rs.DayQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        answer = reads.metric_day_count_read(
            metric=query.validated_data["metric"],
            day=query.validated_data["date"],
            tz=query.validated_data["tz"],
        )
        return Response(rs.CountOutputSerializer(answer).data)

    @openapi.events_emails
    @action(detail=False, methods=["get"])
    def emails(self, request: Request) -> Response:
        query = rs.EmailsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        answer = reads.metric_day_emails_read(
            metric=query.validated_data["metric"],
            day=query.validated_data["date"],
            tz=query.validated_data["tz"],
            after=query.validated_data.get("cursor"),
            limit=query.validated_data["limit"],
        )
        return Response(rs.EmailsOutputSerializer(answer).data)

    @openapi.events_profile_attributes
    @action(
        detail=False,
        methods=["get"],
        url_path=r"profiles/(?P<email>[^/]+)/attributes",
        url_name="profile-attributes",
    )
    def profile_attributes(self, request: Request, email: str) -> Response:
        address = _profile_email(email)
        answer = reads.profile_attributes_read(email=address)
        if answer is None:
            raise NotFound(f"Profile {address} not found")
        return Response(rs.ProfileAttributesOutputSerializer(answer).data)

    @openapi.events_profile_metrics
    @action(
        detail=False,
        methods=["get"],
        url_path=r"profiles/(?P<email>[^/]+)/metrics",
        url_name="profile-metrics",
    )
    def profile_metrics(self, request: Request, email: str) -> Response:
        address = _profile_email(email)
        answer = reads.profile_metrics_read(email=address)
        if answer is None:
            raise NotFound(f"Profile {address} not found")
        return Response(rs.ProfileMetricsOutputSerializer(answer).data)


def _profile_email(raw: str) -> str:
    path = rs.ProfileEmailSerializer(data={"email": raw})
    path.is_valid(raise_exception=True)
    return path.validated_data["email"]
