"""The event answer of POST /events: built by hand for speed, it must say what its declared
fields (the OpenAPI schema) say."""

from datetime import UTC, datetime

import pytest
from rest_framework import serializers

from events.models import SyncStatus
from events.serializers import EventOutputSerializer
from events.tests.factories import EventFactory

pytestmark = pytest.mark.django_db


def declared_fields_render(event) -> dict:
    serializer = EventOutputSerializer(event)
    return serializers.Serializer.to_representation(serializer, event)


def test_a_new_event_renders_as_its_declared_fields():
    event = EventFactory(email=None, event_attributes={"sku": "A-1", "n": [1, {"x": None}]})

    assert EventOutputSerializer(event).data == declared_fields_render(event)


def test_a_sent_event_with_every_field_set_renders_as_its_declared_fields():
    event = EventFactory(
        value=99,
        unique_id="order-1",
        profile_attributes={"firstName": "Ann"},
        time=datetime(2025, 9, 15, 10, 0, 0, 123456, tzinfo=UTC),
        sync_status=SyncStatus.SENT,
        attempts=2,
        last_error="HTTP 503",
        klaviyo_response='{"ok": true}',
        synced_at=datetime(2025, 9, 15, 10, 0, 1, tzinfo=UTC),
    )
    event.refresh_from_db()

    rendered = EventOutputSerializer(event).data

    assert rendered == declared_fields_render(event)
    assert (rendered["time"], rendered["value"], rendered["sentToKlaviyo"]) == (
        "2025-09-15T10:00:00.123Z",
        99.0,
        True,
    )
