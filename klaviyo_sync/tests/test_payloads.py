"""The JSON an event's or profile's admin page shows is exactly what the sync sends."""

import json

import pytest
from django.utils import timezone

from events.models import SyncStatus
from events.tests.factories import EventFactory, ProfileFactory
from klaviyo_sync.payloads import event_payload, profile_payload
from klaviyo_sync.profile_sync import profile_sync
from klaviyo_sync.services import events_sync
from klaviyo_sync.tests.conftest import BASE

pytestmark = pytest.mark.django_db


def test_the_event_payload_is_the_body_the_sync_sends(klaviyo):
    profile = ProfileFactory(
        email="ann@example.com", attributes={"firstName": "Ann", "city": "Oslo", "plan": "pro"}
    )
    event = EventFactory(
        profile=profile,
        profile_attributes={"plan": "pro", "tier": None},
        event_name="Placed Order",
        event_attributes={"OrderId": "A-1", "Items": ["book"]},
        value=12.5,
        unique_id="order-A-1",
        time=timezone.now().replace(microsecond=0),
    )
    shown = event_payload(event_id=event.id)
    klaviyo.post(f"{BASE}/events", status=202)

    events_sync(event_ids=[event.id])

    sent = json.loads(klaviyo.calls[0].request.body)
    assert shown.request == "POST /api/events"
    assert shown.problem is None
    assert shown.body == sent
    assert json.loads(shown.pretty) == sent
    assert sent["data"]["attributes"]["unique_id"] == "order-A-1"
    assert sent["data"]["attributes"]["profile"]["data"]["attributes"] == {
        "email": "ann@example.com",
        "properties": {"plan": "pro"},
        "meta": {"patch_properties": {"unset": ["tier"]}},
    }
    event.refresh_from_db()
    assert event.sync_status == SyncStatus.SENT


def test_an_event_klaviyo_would_refuse_shows_why_instead_of_a_body():
    event = EventFactory(event_name="x" * 128)

    shown = event_payload(event_id=event.id)

    assert shown.body is None
    assert shown.problem == "Not sent: eventName must be 1 to 127 characters for Klaviyo"


def test_the_profile_payload_is_the_body_the_sync_sends(klaviyo):
    profile = ProfileFactory(email="bo@example.com", attributes={"lastName": "Li", "tier": 2})
    shown = profile_payload(profile_id=profile.id)
    klaviyo.post(f"{BASE}/profile-import", status=201, json={"data": {"id": "01P"}})

    profile_sync(profile_id=profile.id)

    assert shown.request == "POST /api/profile-import"
    assert shown.body == json.loads(klaviyo.calls[0].request.body)
