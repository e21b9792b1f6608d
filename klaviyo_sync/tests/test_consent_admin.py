"""Consent changes in admin: listed with their status, attempts and errors, filtered by kind,
status and channel, searched by address, their addresses inline and read only, and the retry
of failed ones (refused where a later change for an address already went)."""

import pytest
from django.urls import reverse

from events.consent_services import consent_change_create
from events.models import ConsentChange, ConsentStatus
from klaviyo_sync.tests.conftest import BASE

pytestmark = pytest.mark.django_db
CHANGES = reverse("admin:events_consentchange_changelist")


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def _change(kind: str = "subscribe", channels=("email",), email="ann@example.com", **fields):
    change = consent_change_create(
        kind=kind,
        addresses=[{"email": email, "phone_number": "+15005550006"}],
        channels=channels,
        list_id="Y6nRLr" if kind == "subscribe" else None,
    )
    if fields:
        ConsentChange.objects.filter(id=change.id).update(**fields)
    return change


def test_the_list_shows_kind_channels_status_attempts_and_error(staff_client):
    _change(status=ConsentStatus.FAILED, attempts=8, last_error="HTTP 400: Invalid list")

    page = staff_client.get(CHANGES).content.decode()

    assert "HTTP 400: Invalid list" in page
    assert "Subscribe" in page
    assert "Y6nRLr" in page
    assert "\N{MULTIPLICATION SIGN}8" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind__exact=suppress", {"c@x.io"}),
        ("status__exact=failed", {"b@x.io"}),
        ("channel=sms", {"b@x.io"}),
        ("channel=email", {"a@x.io", "b@x.io"}),
        ("q=a%40x.io", {"a@x.io"}),
        ("q=%2B15005550006", {"a@x.io", "b@x.io", "c@x.io"}),
    ],
)
def test_the_list_filters_by_kind_status_channel_and_address(staff_client, query, expected):
    by_email = {
        "a@x.io": _change(email="a@x.io"),
        "b@x.io": _change(
            kind="unsubscribe", channels=("email", "sms"), email="b@x.io", status="failed"
        ),
        "c@x.io": _change(kind="suppress", channels=(), email="c@x.io"),
    }

    response = staff_client.get(f"{CHANGES}?{query}")

    shown = {c.id for c in response.context["cl"].result_list}
    assert shown == {by_email[email].id for email in expected}


def test_a_change_page_shows_its_addresses_read_only(staff_client):
    change = _change(last_error="HTTP 503: Service Unavailable")

    response = staff_client.get(reverse("admin:events_consentchange_change", args=[change.id]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "ann@example.com" in page and "+15005550006" in page
    assert "HTTP 503: Service Unavailable" in page
    assert 'name="_save"' not in page


def test_retry_puts_failed_changes_back_and_sends_them(staff_client, klaviyo):
    klaviyo.post(f"{BASE}/profile-subscription-bulk-create-jobs", status=202)
    failed = _change(status=ConsentStatus.FAILED, attempts=3, last_error="HTTP 503")

    response = staff_client.post(
        CHANGES, {"action": "retry", "_selected_action": [failed.id]}, follow=True
    )

    assert "1 consent changes queued for Klaviyo again." in response.content.decode()
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("sent", 1)


def test_retry_is_refused_when_a_later_change_for_an_address_went(staff_client, klaviyo):
    failed = _change(status=ConsentStatus.FAILED, attempts=3)
    later = _change(kind="unsubscribe", status=ConsentStatus.SENT, attempts=1)

    response = staff_client.post(
        CHANGES, {"action": "retry", "_selected_action": [failed.id]}, follow=True
    )

    page = response.content.decode()
    assert f"#{failed.id} not retried" in page
    assert f"#{later.id}" in page
    assert ConsentChange.objects.get(id=failed.id).status == "failed"
    assert not klaviyo.calls
