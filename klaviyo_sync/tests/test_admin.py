"""Events and profiles in admin: sync columns, filters, search, no full count, Send again."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from events.admin import COUNT_CAP, CappedCountPaginator
from events.models import Event, Profile, SyncStatus
from events.tests.factories import EventFactory, ProfileFactory
from klaviyo_sync.tests.conftest import BASE

pytestmark = pytest.mark.django_db

EVENTS_LIST = reverse("admin:events_event_changelist")
PROFILES_LIST = reverse("admin:events_profile_changelist")


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def test_the_event_list_shows_sync_status_attempts_and_last_error(staff_client):
    EventFactory(sync_status=SyncStatus.FAILED, attempts=3, last_error="HTTP 400: Bad metric")

    response = staff_client.get(EVENTS_LIST)

    page = response.content.decode()
    assert response.status_code == 200
    assert "HTTP 400: Bad metric" in page
    assert "Failed" in page


def test_the_event_list_filters_by_status_name_and_date(staff_client):
    EventFactory(event_name="Purchase", email="a@example.com", sync_status=SyncStatus.FAILED)
    EventFactory(event_name="Signup", email="b@example.com", sync_status=SyncStatus.SENT)

    by_status = staff_client.get(EVENTS_LIST, {"sync_status__exact": "failed"})
    by_name = staff_client.get(EVENTS_LIST, {"event_name": "Signup"})
    by_date = staff_client.get(EVENTS_LIST, {"created_at__gte": "2000-01-01 00:00:00+00:00"})

    assert list(by_status.context["cl"].result_list.values_list("email", flat=True)) == [
        "a@example.com"
    ]
    assert list(by_name.context["cl"].result_list.values_list("email", flat=True)) == [
        "b@example.com"
    ]
    assert by_date.context["cl"].result_count == 2


def test_the_event_list_searches_by_exact_email(staff_client):
    EventFactory(email="find.me@example.com")
    EventFactory(email="other@example.com")

    response = staff_client.get(EVENTS_LIST, {"q": "find.me@example.com"})

    assert [e.email for e in response.context["cl"].result_list] == ["find.me@example.com"]


def test_the_event_list_finds_an_email_in_any_case_and_a_unique_id_only_in_its_own(
    staff_client,
):
    EventFactory(email="find.me@example.com", unique_id="Order-7")
    EventFactory(email="other@example.com", unique_id="order-7")

    by_email = staff_client.get(EVENTS_LIST, {"q": "  Find.Me@Example.COM "})
    by_unique_id = staff_client.get(EVENTS_LIST, {"q": "Order-7"})

    assert [e.email for e in by_email.context["cl"].result_list] == ["find.me@example.com"]
    assert [e.unique_id for e in by_unique_id.context["cl"].result_list] == ["Order-7"]


def test_the_event_list_never_counts_the_whole_table(staff_client):
    EventFactory.create_batch(3)

    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(EVENTS_LIST)

    assert response.status_code == 200
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts, "the list counts its rows once, with a cap"
    assert all("LIMIT" in sql.upper() for sql in counts)
    assert response.context["cl"].result_count == 3


def test_the_capped_paginator_stops_counting_at_the_cap():
    ProfileFactory.create_batch(3)
    paginator = CappedCountPaginator(Profile.objects.order_by("id"), per_page=2)

    assert paginator.count == 3
    assert COUNT_CAP > 3


def test_send_again_queues_the_skipped_failed_and_sent_events_not_the_pending(
    staff_client, klaviyo
):
    klaviyo.post(f"{BASE}/events", status=202)
    failed = EventFactory(sync_status=SyncStatus.FAILED, attempts=8, last_error="HTTP 503: x")
    skipped = EventFactory(sync_status=SyncStatus.SKIPPED, unique_id="s-1")
    sent = EventFactory(sync_status=SyncStatus.SENT, attempts=1, unique_id="o-1")
    pending = EventFactory(sync_status=SyncStatus.PENDING)

    response = staff_client.post(
        EVENTS_LIST,
        {
            "action": "resync",
            "_selected_action": [str(e.id) for e in (failed, skipped, sent, pending)],
        },
        follow=True,
    )

    assert response.status_code == 200
    assert "3 events queued for Klaviyo again." in response.content.decode()
    for event in (failed, skipped, sent):
        event.refresh_from_db()
        assert (event.sync_status, event.attempts, event.last_error) == (SyncStatus.SENT, 1, "")
    pending.refresh_from_db()
    assert pending.sync_status == SyncStatus.PENDING
    sent_ids = sorted(
        json.loads(c.request.body)["data"]["attributes"]["unique_id"] for c in klaviyo.calls
    )
    assert sent_ids == sorted([str(failed.id), "s-1", "o-1"])


def test_send_again_says_when_every_chosen_event_is_pending(staff_client, klaviyo):
    pending = EventFactory(sync_status=SyncStatus.PENDING)

    response = staff_client.post(
        EVENTS_LIST, {"action": "resync", "_selected_action": [str(pending.id)]}, follow=True
    )

    assert "None of the selected events was skipped, failed or sent" in response.content.decode()
    assert len(klaviyo.calls) == 0


def test_an_event_page_shows_klaviyos_response(staff_client):
    event = EventFactory(
        sync_status=SyncStatus.SENT, klaviyo_response="Successfully sent to Klaviyo"
    )

    response = staff_client.get(reverse("admin:events_event_change", args=[event.id]))

    assert response.status_code == 200
    assert "Successfully sent to Klaviyo" in response.content.decode()


def test_the_profile_list_shows_sync_status_and_searches_by_email(staff_client):
    ProfileFactory(email="find.me@example.com", sync_status=SyncStatus.FAILED, last_error="bad")
    ProfileFactory(email="other@example.com")

    response = staff_client.get(PROFILES_LIST, {"q": "find.me@example.com"})

    assert response.status_code == 200
    assert [p.email for p in response.context["cl"].result_list] == ["find.me@example.com"]
    assert "bad" in response.content.decode()


def test_the_profile_list_finds_an_email_in_any_case_and_an_external_id_exactly(staff_client):
    ProfileFactory(email="find.me@example.com")
    ProfileFactory(email=None, identity="external:ABC", external_id="ABC")
    ProfileFactory(email=None, identity="external:abc", external_id="abc")

    by_email = staff_client.get(PROFILES_LIST, {"q": "FIND.ME@example.com"})
    by_external_id = staff_client.get(PROFILES_LIST, {"q": "ABC"})

    assert [p.email for p in by_email.context["cl"].result_list] == ["find.me@example.com"]
    assert [p.identity for p in by_external_id.context["cl"].result_list] == ["external:ABC"]


def test_sync_now_imports_the_profile_and_keeps_klaviyos_id(staff_client, klaviyo):
    klaviyo.post(
        f"{BASE}/profile-import",
        status=201,
        json={"data": {"type": "profile", "id": "01KLAVIYO", "attributes": {}}},
    )
    profile = ProfileFactory(attributes={"firstName": "Ann"})

    staff_client.post(
        PROFILES_LIST, {"action": "sync_now", "_selected_action": [profile.id]}, follow=True
    )

    profile.refresh_from_db()
    assert profile.sync_status == SyncStatus.SENT
    assert profile.klaviyo_id == "01KLAVIYO"
    assert profile.synced_at is not None
    assert Event.objects.count() == 0
