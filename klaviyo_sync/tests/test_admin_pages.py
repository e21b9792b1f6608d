"""Event and profile pages: the JSON the sync sends to Klaviyo, and Retry now on failed and
skipped rows."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from events.models import SyncStatus
from events.tests.factories import EventFactory, ProfileFactory
from klaviyo_sync.payloads import event_payload
from klaviyo_sync.tests.conftest import BASE

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("a", "a@example.com", "pw"))
    return client


def page_of(event) -> str:
    return reverse("admin:events_event_change", args=[event.pk])


def retry_url(event) -> str:
    return reverse("admin:events_event_retry", args=[event.pk])


def test_an_event_page_shows_the_json_the_sync_sends(staff_client):
    event = EventFactory(event_name="Placed Order", unique_id="order-9", value=3.5)

    page = staff_client.get(page_of(event)).content.decode()

    shown = event_payload(event_id=event.pk)
    assert "POST /api/events" in page
    assert 'id="klaviyo-payload"' in page
    assert "&quot;unique_id&quot;: &quot;order-9&quot;" in page
    assert json.dumps(shown.body, indent=2).replace('"', "&quot;") in page


def test_an_event_klaviyo_would_refuse_shows_the_reason(staff_client):
    event = EventFactory(event_name="x" * 128)

    page = staff_client.get(page_of(event)).content.decode()

    assert "Not sent: eventName must be 1 to 127 characters for Klaviyo" in page


@pytest.mark.parametrize("status", [SyncStatus.FAILED, SyncStatus.SKIPPED])
def test_failed_and_skipped_events_have_retry_now(staff_client, status):
    event = EventFactory(sync_status=status, last_error="HTTP 400: x")

    page = staff_client.get(page_of(event)).content.decode()

    assert f'action="{retry_url(event)}"' in page
    assert "Retry now" in page


@pytest.mark.parametrize("status", [SyncStatus.SENT, SyncStatus.PENDING])
def test_sent_and_pending_events_have_no_retry(staff_client, status):
    event = EventFactory(sync_status=status)

    page = staff_client.get(page_of(event)).content.decode()

    assert "Retry now" not in page


def test_retry_now_sends_a_failed_event_again(staff_client, klaviyo):
    event = EventFactory(sync_status=SyncStatus.FAILED, attempts=8, last_error="HTTP 503: down")
    klaviyo.post(f"{BASE}/events", status=202)

    response = staff_client.post(retry_url(event), follow=True)

    assert response.redirect_chain[-1][0] == page_of(event)
    assert "Queued for Klaviyo" in response.content.decode()
    event.refresh_from_db()
    assert event.sync_status == SyncStatus.SENT
    assert event.attempts == 1
    assert json.loads(klaviyo.calls[0].request.body) == event_payload(event_id=event.pk).body


def test_retry_now_leaves_a_sent_event_alone(staff_client):
    event = EventFactory(sync_status=SyncStatus.SENT)

    response = staff_client.post(retry_url(event), follow=True)

    assert "Not retried: it is sent" in response.content.decode()
    event.refresh_from_db()
    assert event.sync_status == SyncStatus.SENT


def test_retry_now_needs_a_post_and_the_change_permission(client, django_user_model):
    event = EventFactory(sync_status=SyncStatus.FAILED)
    viewer = django_user_model.objects.create_user("v", "v@example.com", "pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_event"))
    client.force_login(viewer)

    page = client.get(page_of(event)).content.decode()
    refused = client.post(retry_url(event))

    assert "Retry now" not in page
    assert refused.status_code == 403
    event.refresh_from_db()
    assert event.sync_status == SyncStatus.FAILED


def test_retry_now_is_not_a_get(staff_client):
    event = EventFactory(sync_status=SyncStatus.FAILED)

    assert staff_client.get(retry_url(event)).status_code == 405


def test_a_profile_page_shows_its_profile_import_body_and_retries_a_failed_profile(
    staff_client, klaviyo
):
    profile = ProfileFactory(
        email="kim@example.com", sync_status=SyncStatus.FAILED, attributes={"firstName": "Kim"}
    )
    klaviyo.post(f"{BASE}/profile-import", status=201, json={"data": {"id": "01K"}})
    page_url = reverse("admin:events_profile_change", args=[profile.pk])

    page = staff_client.get(page_url).content.decode()
    response = staff_client.post(
        reverse("admin:events_profile_retry", args=[profile.pk]), follow=True
    )

    assert "POST /api/profile-import" in page
    assert "&quot;first_name&quot;: &quot;Kim&quot;" in page
    assert "Queued for Klaviyo" in response.content.decode()
    profile.refresh_from_db()
    assert (profile.sync_status, profile.klaviyo_id) == (SyncStatus.SENT, "01K")
