"""Every kind of consent request the worker sends, as it sends it, validated against Klaviyo's
official OpenAPI spec (klaviyo_emulator/openapi/stable.json), as test_spec.py does for the rest:
subscribe (with and without a historical import and SMS), unsubscribe (with and without a list),
suppress and unsuppress."""

from datetime import UTC, datetime

import pytest
import responses
from openapi_core.validation.request.exceptions import InvalidRequestBody

from events.consent_services import consent_change_create
from klaviyo_sync.consent_sync import consent_change_sync
from klaviyo_sync.tests.test_spec import BASE, assert_valid, configured, spec  # noqa: F401

pytestmark = pytest.mark.django_db
JOB = {"data": {"type": "profile-suppression-bulk-create-job", "id": "J1"}}


@pytest.fixture
def sent():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(f"{BASE}/profile-subscription-bulk-create-jobs", status=202)
        mock.post(f"{BASE}/profile-subscription-bulk-delete-jobs", status=202)
        mock.post(f"{BASE}/profile-suppression-bulk-create-jobs", status=202, json=JOB)
        mock.post(f"{BASE}/profile-suppression-bulk-delete-jobs", status=202, json=JOB)
        yield mock.calls


def _send(**change) -> None:
    stored = consent_change_create(**change)
    assert consent_change_sync(change_id=stored.id).status == "sent"


def test_subscriptions_follow_the_spec(spec, configured, sent):  # noqa: F811
    both = {"email": "ann@example.com", "phone_number": "+15005550006"}
    _send(kind="subscribe", addresses=[both], channels=["email", "sms"], list_id="Y6nRLr")
    _send(
        kind="subscribe",
        addresses=[{**both, "consented_at": datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)}],
        channels=["email", "sms"],
        list_id="Y6nRLr",
        historical_import=True,
    )
    _send(kind="subscribe", addresses=[{"phone_number": "+15005550006"}], channels=["sms"])

    assert len(sent) == 3
    assert_valid(spec, sent)


def test_unsubscriptions_follow_the_spec(spec, configured, sent):  # noqa: F811
    ann = {"email": "ann@example.com", "phone_number": "+15005550006"}
    _send(kind="unsubscribe", addresses=[ann], channels=["email", "sms"], list_id="Y6nRLr")
    _send(kind="unsubscribe", addresses=[{"email": "b@x.io"}], channels=["email"])

    assert len(sent) == 2
    assert_valid(spec, sent)


def test_suppressions_follow_the_spec(spec, configured, sent):  # noqa: F811
    _send(kind="suppress", addresses=[{"email": "a@x.io"}, {"email": "b@x.io"}])
    _send(kind="unsuppress", addresses=[{"email": "a@x.io"}])

    assert len(sent) == 2
    assert_valid(spec, sent)


def test_the_check_refuses_a_subscription_without_its_consent(spec, configured, sent):  # noqa: F811
    """The check itself can fail: the spec requires `consent` in a channel's marketing."""
    from klaviyo_client.client import klaviyo_client

    body = {
        "data": {
            "type": "profile-subscription-bulk-create-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "email": "a@x.io",
                                "subscriptions": {"email": {"marketing": {}}},
                            },
                        }
                    ]
                }
            },
        }
    }
    klaviyo_client().profiles_subscribe(body=body)

    with pytest.raises(InvalidRequestBody):
        assert_valid(spec, sent)
