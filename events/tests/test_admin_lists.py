"""Event and profile lists that read at 1,400 px, search by email prefix and exact uniqueId,
and pages that are read only."""

import pytest
from django.urls import reverse

from events.admin import prefix_range
from events.failures import failure_reason, reason_key
from events.models import SyncStatus
from events.tests.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db

EVENTS = reverse("admin:events_event_changelist")
PROFILES = reverse("admin:events_profile_changelist")


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("a", "a@example.com", "pw"))
    return client


def found(response) -> list[str]:
    return sorted(str(row.pk) for row in response.context["cl"].result_list)


def test_a_search_finds_emails_by_their_start_in_any_case(staff_client):
    anna = EventFactory(profile=ProfileFactory(email="anna.lee@example.com"))
    annie = EventFactory(profile=ProfileFactory(email="annie@example.org"))
    EventFactory(profile=ProfileFactory(email="bob@example.com"))

    response = staff_client.get(EVENTS, {"q": " ANN "})

    assert found(response) == sorted([str(anna.pk), str(annie.pk)])


def test_a_search_finds_a_unique_id_exactly_and_only_in_its_case(staff_client):
    order = EventFactory(unique_id="Order-17")
    EventFactory(unique_id="Order-170")

    assert found(staff_client.get(EVENTS, {"q": "Order-17"})) == [str(order.pk)]
    assert found(staff_client.get(EVENTS, {"q": "order-17"})) == []


def test_a_search_does_not_match_the_middle_of_an_email(staff_client):
    EventFactory(profile=ProfileFactory(email="joanna@example.com"))

    assert found(staff_client.get(EVENTS, {"q": "anna"})) == []


def test_the_list_shows_short_status_labels_and_cut_errors_with_the_full_text_on_hover(
    staff_client,
):
    error = "HTTP 400: Invalid input. " + "The profile's email is not valid. " * 5
    EventFactory(sync_status=SyncStatus.SKIPPED, last_error=error)

    page = staff_client.get(EVENTS).content.decode()

    assert (
        '<span class="status status-skipped" title="Skipped (no Klaviyo key)">skipped</span>'
        in page
    )
    assert f'title="{error.replace(chr(39), "&#x27;")}"' in page
    shown = (error[:59] + "…").replace("'", "&#x27;")  # ERROR_CHARS = 60, the ellipsis included
    assert f">{shown}</span>" in page
    assert "core/staff.css" in page


def test_an_event_page_is_read_only(staff_client):
    event = EventFactory()

    response = staff_client.get(reverse("admin:events_event_change", args=[event.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="_save"' not in page
    assert 'name="_continue"' not in page
    assert "deletelink" not in page
    post = staff_client.post(reverse("admin:events_event_change", args=[event.pk]), {})
    assert post.status_code == 403


def test_a_profile_page_is_read_only_and_profiles_are_found_by_email_prefix(staff_client):
    profile = ProfileFactory(email="carol@example.com", phone_number="+15005550006")
    ProfileFactory(email="dave@example.com")

    page = staff_client.get(reverse("admin:events_profile_change", args=[profile.pk]))

    assert 'name="_save"' not in page.content.decode()
    assert found(staff_client.get(PROFILES, {"q": "Car"})) == [str(profile.pk)]
    assert found(staff_client.get(PROFILES, {"q": "+15005550006"})) == [str(profile.pk)]


def test_the_reason_filter_lists_the_events_of_one_failure_reason(staff_client):
    same = [
        EventFactory(sync_status=SyncStatus.FAILED, last_error=f"HTTP 400: '{n}@x.com' invalid")
        for n in range(2)
    ]
    EventFactory(sync_status=SyncStatus.FAILED, last_error="HTTP 413: too big")
    key = reason_key(failure_reason("HTTP 400: 'a@x.com' invalid"))

    response = staff_client.get(EVENTS, {"sync_status__exact": "failed", "reason": key})

    assert response.status_code == 200
    assert found(response) == sorted(str(event.pk) for event in same)
    assert "failed: HTTP 400: &#x27;…&#x27; invalid" in response.content.decode()


@pytest.mark.parametrize(
    ("prefix", "low", "high"),
    [("ann", "ann", "ano"), ("a@x.c", "a@x.c", "a@x.d"), ("z\U0010ffff", "z\U0010ffff", "{")],
)
def test_a_prefix_is_a_range_of_code_points(prefix, low, high):
    assert prefix_range(prefix) == (low, high)


def test_an_exact_unique_id_wins_over_emails_that_start_like_it(staff_client):
    order = EventFactory(unique_id="ann")
    EventFactory(profile=ProfileFactory(email="anna@example.com"))

    assert found(staff_client.get(EVENTS, {"q": "ann"})) == [str(order.pk)]
