"""/events: ingest (the questions about events are klaviyo_sync's: they ask Klaviyo first).
OpenAPI declarations: events/openapi.py."""

from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from events import openapi
from events import serializers as s
from events.services import event_ingest, events_ingest_bulk


class EventViewSet(viewsets.ViewSet):
    """Customer events: ingest."""

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
