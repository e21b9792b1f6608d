"""The sync stores each failure's reason beside its error, and clears it when the event is sent."""

import pytest

from events.models import SyncStatus
from events.tests.factories import EventFactory
from klaviyo_sync.services import events_sync
from klaviyo_sync.tests.conftest import BASE

pytestmark = pytest.mark.django_db


def test_a_refused_event_is_stored_with_its_reason_and_a_sent_one_without(klaviyo):
    refused, accepted = EventFactory(), EventFactory()
    klaviyo.post(
        f"{BASE}/events",
        status=400,
        json={"errors": [{"title": "Invalid input.", "detail": f"'{refused.email}' is bad"}]},
    )
    events_sync(event_ids=[refused.id])
    klaviyo.replace("POST", f"{BASE}/events", status=202)
    events_sync(event_ids=[accepted.id])

    refused.refresh_from_db()
    accepted.refresh_from_db()
    assert refused.sync_status == SyncStatus.FAILED
    assert refused.last_error == f"HTTP 400: Invalid input. '{refused.email}' is bad"
    assert refused.failure_reason == "HTTP 400: Invalid input. '…' is bad"
    assert (accepted.sync_status, accepted.failure_reason) == (SyncStatus.SENT, "")


def test_an_event_skipped_without_a_key_has_that_reason(settings):
    settings.KLAVIYO_API_KEY = ""
    event = EventFactory()

    events_sync(event_ids=[event.id])

    event.refresh_from_db()
    assert event.sync_status == SyncStatus.SKIPPED
    assert event.failure_reason == "Not sent: KLAVIYO_API_KEY is not configured"
