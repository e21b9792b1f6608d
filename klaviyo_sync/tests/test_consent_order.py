"""Consent changes reach Klaviyo in the order they were made, per address: a later change waits
while an earlier one sharing an address is pending (retries included), goes once that one is
done, and an old failed change is not retried over a newer one that already went."""

import json

import pytest
import responses
from django.utils import timezone

from events.consent_services import consent_change_create
from events.models import ConsentChange
from klaviyo_sync.consent_order import consent_change_retry
from klaviyo_sync.consent_sync import consent_change_sync
from klaviyo_sync.tests.conftest import BASE

pytestmark = pytest.mark.django_db
SUBSCRIBE_URL = f"{BASE}/profile-subscription-bulk-create-jobs"
UNSUBSCRIBE_URL = f"{BASE}/profile-subscription-bulk-delete-jobs"


def _subscribe(*addresses: dict) -> ConsentChange:
    return consent_change_create(
        kind="subscribe", addresses=list(addresses), channels=["email"], list_id="Y6nRLr"
    )


def _unsubscribe(*addresses: dict) -> ConsentChange:
    return consent_change_create(kind="unsubscribe", addresses=list(addresses), channels=["email"])


def _due(change: ConsentChange) -> None:
    ConsentChange.objects.filter(id=change.id).update(next_attempt_at=timezone.now())


def _sent_types(klaviyo: responses.RequestsMock) -> list[str]:
    return [
        json.loads(call.request.body)["data"]["type"].split("-")[-2]  # create / delete
        for call in klaviyo.calls
    ]


def test_an_unsubscribe_waits_for_the_subscribe_before_it_across_retries(klaviyo) -> None:
    klaviyo.post(SUBSCRIBE_URL, status=503)
    klaviyo.post(SUBSCRIBE_URL, status=202)
    klaviyo.post(UNSUBSCRIBE_URL, status=202)
    subscribe = _subscribe({"email": "ann@example.com"})
    unsubscribe = _unsubscribe({"email": "ann@example.com"})

    assert consent_change_sync(change_id=unsubscribe.id).status == "blocked"
    assert consent_change_sync(change_id=subscribe.id).status == "retrying"
    assert consent_change_sync(change_id=unsubscribe.id).status == "blocked"
    _due(subscribe)
    done = consent_change_sync(change_id=subscribe.id)
    assert (done.status, done.followers) == ("sent", [unsubscribe.id])
    assert consent_change_sync(change_id=unsubscribe.id).status == "sent"

    assert _sent_types(klaviyo) == ["create", "create", "delete"]
    assert ConsentChange.objects.get(id=unsubscribe.id).attempts == 1  # waiting is no attempt


def test_a_shared_phone_number_orders_changes_too(klaviyo) -> None:
    first = consent_change_create(
        kind="subscribe",
        addresses=[{"phone_number": "+15005550006"}],
        channels=["sms"],
        list_id="Y6nRLr",
    )
    later = consent_change_create(
        kind="unsubscribe",
        addresses=[{"email": "other@example.com", "phone_number": "+15005550006"}],
        channels=["sms"],
    )

    assert consent_change_sync(change_id=later.id).status == "blocked"
    assert first.id < later.id


def test_changes_of_other_addresses_do_not_wait(klaviyo) -> None:
    klaviyo.post(UNSUBSCRIBE_URL, status=202)
    _subscribe({"email": "ann@example.com"})
    other = _unsubscribe({"email": "bob@example.com"})

    assert consent_change_sync(change_id=other.id).status == "sent"


def test_a_failed_earlier_change_holds_nothing_back(klaviyo) -> None:
    klaviyo.post(SUBSCRIBE_URL, status=400, json={"errors": [{"title": "Invalid input."}]})
    klaviyo.post(UNSUBSCRIBE_URL, status=202)
    subscribe = _subscribe({"email": "ann@example.com"})
    unsubscribe = _unsubscribe({"email": "ann@example.com"})

    failed = consent_change_sync(change_id=subscribe.id)
    assert (failed.status, failed.followers) == ("failed", [unsubscribe.id])
    assert consent_change_sync(change_id=unsubscribe.id).status == "sent"


def test_a_retry_is_refused_once_a_later_change_for_an_address_went(klaviyo) -> None:
    klaviyo.post(SUBSCRIBE_URL, status=400, json={"errors": [{"title": "Invalid input."}]})
    klaviyo.post(UNSUBSCRIBE_URL, status=202)
    subscribe = _subscribe({"email": "ann@example.com"}, {"email": "bob@example.com"})
    unsubscribe = _unsubscribe({"email": "bob@example.com"})
    consent_change_sync(change_id=subscribe.id)
    consent_change_sync(change_id=unsubscribe.id)

    reason = consent_change_retry(change_id=subscribe.id)

    assert reason is not None
    assert f"#{unsubscribe.id}" in reason
    assert ConsentChange.objects.get(id=subscribe.id).status == "failed"


def test_a_retried_change_goes_before_a_later_one_still_waiting(klaviyo) -> None:
    klaviyo.post(SUBSCRIBE_URL, status=400, json={"errors": [{"title": "Invalid input."}]})
    klaviyo.post(SUBSCRIBE_URL, status=202)
    klaviyo.post(UNSUBSCRIBE_URL, status=202)
    subscribe = _subscribe({"email": "ann@example.com"})
    consent_change_sync(change_id=subscribe.id)
    unsubscribe = _unsubscribe({"email": "ann@example.com"})  # stored, not yet attempted

    assert consent_change_retry(change_id=subscribe.id) is None

    retried = ConsentChange.objects.get(id=subscribe.id)
    assert (retried.status, retried.attempts) == ("pending", 0)
    assert consent_change_sync(change_id=unsubscribe.id).status == "blocked"
    assert consent_change_sync(change_id=subscribe.id).status == "sent"
    assert consent_change_sync(change_id=unsubscribe.id).status == "sent"
    assert _sent_types(klaviyo) == ["create", "create", "delete"]


def test_only_a_failed_change_can_be_retried(klaviyo) -> None:
    change = _subscribe({"email": "ann@example.com"})

    assert consent_change_retry(change_id=change.id) == "not failed"
