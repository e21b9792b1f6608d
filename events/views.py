"""/events: ingest, and what became of the events a client posted (GET /events/{id}, GET /events).
The questions about events (/events/metrics, count, ...) are klaviyo_sync's: they ask Klaviyo
first. And /profiles: profiles upserted without events. OpenAPI declarations: events/openapi.py."""

from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from core.openapi import PagedListSchema
from core.strict_input import EMAIL_PATH_REGEX
from events import erasure_openapi, openapi
from events import erasure_serializers as es
from events import list_serializers as ls
from events import profile_serializers as ps
from events import serializers as s
from events.consent_selectors import profile_consent
from events.consent_serializers import ProfileWithConsentSerializer
from events.erasure_services import profile_erase
from events.models import ErasureIdentifier
from events.profile_services import profile_upsert, profiles_upsert_bulk
from events.selectors import erasure_get, event_get, event_list, profile_get_by_email
from events.services import event_ingest, events_ingest_bulk

# Only an id routes to the detail view: /events/metrics, /events/count, ... stay klaviyo_sync's.
UUID_PATTERN = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


class EventViewSet(viewsets.ViewSet):
    """Customer events: ingest and their sync status."""

    lookup_value_regex = UUID_PATTERN
    schema = PagedListSchema()  # GET /events answers {"events", "nextCursor"}, not an array

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

    @openapi.event_retrieve
    def retrieve(self, request: Request, pk: str) -> Response:
        event = event_get(event_id=pk)
        if event is None:
            raise NotFound(f"Event {pk} not found")
        return Response(s.EventOutputSerializer(event).data)

    @openapi.event_list
    def list(self, request: Request) -> Response:
        query = ls.EventListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        events, next_position = event_list(**query.validated_data)
        return Response(ls.EventPageSerializer({"events": events, "next": next_position}).data)


class ProfileViewSet(viewsets.ViewSet):
    """Profiles as a resource of their own: upserted here, synced by the worker."""

    lookup_field = "email"
    lookup_value_regex = EMAIL_PATH_REGEX

    @openapi.profile_upsert
    def create(self, request: Request) -> Response:
        serializer = ps.ProfileInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = profile_upsert(data=serializer.validated_data)
        return Response(
            ps.ProfileOutputSerializer(result.profile).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )

    @openapi.profiles_bulk_upsert
    @action(detail=False, methods=["post"])
    def bulk(self, request: Request) -> Response:
        serializer = ps.BulkProfilesInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        results = profiles_upsert_bulk(items=serializer.validated_data["profiles"])
        return Response(
            ps.BulkProfilesOutputSerializer(results).data, status=status.HTTP_201_CREATED
        )

    @openapi.profile_retrieve
    def retrieve(self, request: Request, email: str) -> Response:
        path = ps.ProfileEmailPathSerializer(data={"email": email})
        path.is_valid(raise_exception=True)
        address = path.validated_data["email"]
        profile = profile_get_by_email(email=address)
        if profile is None:
            raise NotFound(f"Profile {address} not found")
        state = profile_consent(profile=profile)
        return Response(ProfileWithConsentSerializer((profile, state)).data)

    @erasure_openapi.profile_erase
    def destroy(self, request: Request, email: str) -> Response:
        path = ps.ProfileEmailPathSerializer(data={"email": email})
        path.is_valid(raise_exception=True)
        erasure = profile_erase(kind=ErasureIdentifier.EMAIL, value=path.validated_data["email"])
        return Response(es.ErasureOutputSerializer(erasure).data, status=status.HTTP_202_ACCEPTED)

    @erasure_openapi.erasure_create
    @action(detail=False, methods=["post"], url_path="erasures")
    def erasures(self, request: Request) -> Response:
        serializer = es.ErasureInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        erasure = profile_erase(**serializer.validated_data)
        return Response(es.ErasureOutputSerializer(erasure).data, status=status.HTTP_202_ACCEPTED)

    @erasure_openapi.erasure_retrieve
    @action(detail=False, methods=["get"], url_path=f"erasures/(?P<erasure_id>{UUID_PATTERN})")
    def erasure(self, request: Request, erasure_id: str) -> Response:
        erasure = erasure_get(erasure_id=erasure_id)
        if erasure is None:
            raise NotFound(f"Erasure {erasure_id} not found")
        return Response(es.ErasureOutputSerializer(erasure).data)
