"""End to end against the Klaviyo emulator, in process: what a Klaviyo account holds after the
consent endpoints. A subscribe the emulator fails twice holds back the unsubscribe made after
it, which lands after it once the subscribe went through; suppression jobs leave their ids."""

from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import ConsentChange
from klaviyo_emulator.server import Emulator
from klaviyo_sync import tasks
from klaviyo_sync.tests.conftest import klaviyo_is
from testkit.klaviyo_state import consent_of, list_create, list_member_emails, operations_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def klaviyo(emulator: Emulator, settings) -> Emulator:
    # A retry is due a minute later: the test runs it, not the eager task queue.
    return klaviyo_is(emulator, settings, retry_after=60.0)


@pytest.fixture
def post(api_client, django_capture_on_commit_callbacks):
    def post(path: str, body: dict) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(f"/profiles/{path}", body, format="json")
        assert response.status_code == 202, response.content
        return response.json()["id"]

    return post


def _run_when_due(change_id: int) -> str:
    ConsentChange.objects.filter(id=change_id).update(next_attempt_at=timezone.now())
    return tasks.sync_consent_change(change_id)


def test_an_unsubscribe_lands_after_the_subscribe_the_emulator_failed_first(klaviyo, post):
    newsletter = list_create(klaviyo, "Newsletter", list_id="Y6nRLr")["id"]
    klaviyo.app.faults.configure(
        {"status": 503, "count": 2, "operation": "bulk_subscribe_profiles"}
    )
    ann = {"email": "ann@example.com"}

    subscribe = post(
        "subscriptions", {"channels": ["email"], "listId": newsletter, "profiles": [ann]}
    )
    unsubscribe = post("unsubscriptions", {"channels": ["email"], "profiles": [ann]})

    # The subscribe failed once and waits for its retry; the unsubscribe waits behind it.
    assert ConsentChange.objects.get(id=subscribe).last_error.startswith("HTTP 503")
    assert ConsentChange.objects.get(id=unsubscribe).attempts == 0
    assert consent_of(klaviyo, "ann@example.com") is None
    assert _run_when_due(unsubscribe) == "blocked"
    assert _run_when_due(subscribe) == "retrying"  # the emulator's second 503
    assert _run_when_due(subscribe) == "sent"  # and the unsubscribe follows at once

    assert [op for op in operations_of(klaviyo, "ann@example.com") if op.endswith("subscribe")] == [
        "subscribe",
        "unsubscribe",
    ]
    assert consent_of(klaviyo, "ann@example.com")["email_marketing"]["consent"] == "UNSUBSCRIBED"
    states = {c.id: (c.status, c.attempts) for c in ConsentChange.objects.all()}
    assert states == {subscribe: ("sent", 3), unsubscribe: ("sent", 1)}


def test_what_the_account_holds_after_each_kind(klaviyo, post, api_client):
    newsletter = list_create(klaviyo, "Newsletter", list_id="Y6nRLr")["id"]
    past = (timezone.now() - timedelta(days=30)).isoformat()

    post(
        "subscriptions",
        {
            "channels": ["email", "sms"],
            "listId": newsletter,
            "historicalImport": True,
            "profiles": [
                {"email": "ann@example.com", "phoneNumber": "+15005550006", "consentedAt": past}
            ],
        },
    )
    suppress = post("suppressions", {"emails": ["bob@example.com"]})
    post("unsuppressions", {"emails": ["bob@example.com"]})

    ann = consent_of(klaviyo, "ann@example.com")
    assert ann["email_marketing"]["consent"] == "SUBSCRIBED"
    assert ann["sms_marketing"]["consent"] == "SUBSCRIBED"
    assert list_member_emails(klaviyo, newsletter) == ["ann@example.com"]
    assert consent_of(klaviyo, "bob@example.com")["email_marketing"]["suppressions"] == []
    assert operations_of(klaviyo, "bob@example.com") == ["suppress", "unsuppress"]
    answer = api_client.get(f"/profiles/consent-changes/{suppress}").json()
    assert (answer["status"], answer["sentCount"]) == ("sent", 1)
    assert answer["klaviyoJobId"]


def test_a_refusal_of_the_emulator_is_recorded_with_its_detail(klaviyo, post):
    unknown_list = "Zz9999"  # Klaviyo answers 404 for a list the account doesn't have

    change = post(
        "subscriptions",
        {"channels": ["email"], "listId": unknown_list, "profiles": [{"email": "a@x.io"}]},
    )

    stored = ConsentChange.objects.get(id=change)
    assert (stored.status, stored.attempts) == ("failed", 1)
    assert stored.last_error.startswith("HTTP 404")
