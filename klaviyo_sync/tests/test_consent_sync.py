"""The worker of consent changes: each kind sent through its Klaviyo job endpoint, in requests
of the size Klaviyo takes; 429, 5xx and timeouts retried with backoff, other refusals failed with
Klaviyo's detail; every outcome recorded on the change."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
import responses
from django.utils import timezone

from events.consent_services import consent_change_create
from events.models import NO_KEY_MESSAGE, ConsentChange, ConsentChangeProfile
from klaviyo_sync import tasks
from klaviyo_sync.consent_sync import consent_change_sync, consent_changes_stale
from klaviyo_sync.tests.conftest import BASE

pytestmark = pytest.mark.django_db
SUBSCRIBE_URL = f"{BASE}/profile-subscription-bulk-create-jobs"
UNSUBSCRIBE_URL = f"{BASE}/profile-subscription-bulk-delete-jobs"
SUPPRESS_URL = f"{BASE}/profile-suppression-bulk-create-jobs"
UNSUPPRESS_URL = f"{BASE}/profile-suppression-bulk-delete-jobs"
ANN = {"email": "ann@example.com", "phone_number": "+15005550006"}


def _job(job_id: str, kind: str = "profile-suppression-bulk-create-job") -> dict:
    return {"data": {"type": kind, "id": job_id, "attributes": {"status": "queued"}}}


def _bodies(klaviyo: responses.RequestsMock) -> list[dict]:
    return [json.loads(call.request.body)["data"] for call in klaviyo.calls]


def test_a_subscription_is_sent_once_committed_and_recorded(
    api_client, klaviyo, django_capture_on_commit_callbacks
) -> None:
    klaviyo.post(SUBSCRIBE_URL, status=202)
    body = {
        "channels": ["email", "sms"],
        "listId": "Y6nRLr",
        "profiles": [{"email": "ann@example.com", "phoneNumber": "+15005550006"}],
    }

    with django_capture_on_commit_callbacks(execute=True):
        answer = api_client.post("/profiles/subscriptions", body, format="json").json()

    change = ConsentChange.objects.get(id=answer["id"])
    assert (change.status, change.attempts, change.last_error) == ("sent", 1, "")
    assert change.sent_at is not None
    assert change.profiles.get().sent_at is not None
    assert _bodies(klaviyo) == [
        {
            "type": "profile-subscription-bulk-create-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "email": "ann@example.com",
                                "phone_number": "+15005550006",
                                "subscriptions": {
                                    "email": {"marketing": {"consent": "SUBSCRIBED"}},
                                    "sms": {"marketing": {"consent": "SUBSCRIBED"}},
                                },
                            },
                        }
                    ]
                }
            },
            "relationships": {"list": {"data": {"type": "list", "id": "Y6nRLr"}}},
        }
    ]


def test_a_historical_import_sends_each_consent_time(klaviyo) -> None:
    klaviyo.post(SUBSCRIBE_URL, status=202)
    consented = datetime(2024, 5, 1, 10, tzinfo=UTC)
    change = consent_change_create(
        kind="subscribe",
        addresses=[{"email": "ann@example.com", "consented_at": consented}],
        channels=["email"],
        list_id="Y6nRLr",
        historical_import=True,
    )

    assert consent_change_sync(change_id=change.id).status == "sent"

    attributes = _bodies(klaviyo)[0]["attributes"]
    assert attributes["historical_import"] is True
    profile = attributes["profiles"]["data"][0]["attributes"]
    assert profile["subscriptions"] == {
        "email": {"marketing": {"consent": "SUBSCRIBED", "consented_at": "2024-05-01T10:00:00Z"}}
    }


def test_suppressions_go_100_emails_a_request_and_keep_every_job_id(klaviyo) -> None:
    for job_id in ("J1", "J2", "J3"):
        klaviyo.post(SUPPRESS_URL, status=202, json=_job(job_id))
    emails = [f"p{n}@example.com" for n in range(250)]
    change = consent_change_create(kind="suppress", addresses=[{"email": e} for e in emails])

    assert consent_change_sync(change_id=change.id).status == "sent"

    sent = [
        [p["attributes"]["email"] for p in body["attributes"]["profiles"]["data"]]
        for body in _bodies(klaviyo)
    ]
    assert sent == [emails[:100], emails[100:200], emails[200:]]
    change.refresh_from_db()
    assert (change.status, change.klaviyo_job_ids) == ("sent", ["J1", "J2", "J3"])
    assert not ConsentChangeProfile.objects.filter(sent_at__isnull=True).exists()


def test_an_unsubscription_and_an_unsuppression_use_their_endpoints(klaviyo) -> None:
    klaviyo.post(UNSUBSCRIBE_URL, status=202)
    klaviyo.post(UNSUPPRESS_URL, status=202, json=_job("U1", "profile-suppression-bulk-delete-job"))
    unsubscribe = consent_change_create(kind="unsubscribe", addresses=[ANN], channels=["sms"])
    unsuppress = consent_change_create(kind="unsuppress", addresses=[{"email": "b@x.io"}])

    assert consent_change_sync(change_id=unsubscribe.id).status == "sent"
    assert consent_change_sync(change_id=unsuppress.id).status == "sent"

    first, second = _bodies(klaviyo)
    assert first["type"] == "profile-subscription-bulk-delete-job"
    assert "relationships" not in first
    assert first["attributes"]["profiles"]["data"][0]["attributes"]["subscriptions"] == {
        "sms": {"marketing": {"consent": "UNSUBSCRIBED"}}
    }
    assert second["type"] == "profile-suppression-bulk-delete-job"
    assert ConsentChange.objects.get(id=unsuppress.id).klaviyo_job_ids == ["U1"]


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 429, "headers": {"Retry-After": "0"}},
        {"status": 503},
        {"body": requests.ConnectTimeout()},
    ],
    ids=["429", "503", "timeout"],
)
def test_a_passing_failure_is_retried_and_recorded(
    klaviyo, failure, django_capture_on_commit_callbacks
) -> None:
    klaviyo.post(SUPPRESS_URL, **failure)
    klaviyo.post(SUPPRESS_URL, status=202, json=_job("J1"))

    with django_capture_on_commit_callbacks(execute=True):
        change = consent_change_create(kind="suppress", addresses=[{"email": "a@x.io"}])

    change.refresh_from_db()
    assert (change.status, change.attempts, change.klaviyo_job_ids) == ("sent", 2, ["J1"])
    assert change.last_error  # the refusal stays on record after the retry succeeded
    assert len(klaviyo.calls) == 2


def test_the_retries_back_off_from_the_events_delay(klaviyo, settings) -> None:
    settings.KLAVIYO_RETRY_BASE_DELAY = 2.0
    klaviyo.post(SUPPRESS_URL, status=500)
    change = consent_change_create(kind="suppress", addresses=[{"email": "a@x.io"}])

    first = consent_change_sync(change_id=change.id)
    ConsentChange.objects.filter(id=change.id).update(next_attempt_at=timezone.now())
    second = consent_change_sync(change_id=change.id)

    assert (first.status, first.retry_in, second.retry_in) == ("retrying", 2.0, 4.0)
    change.refresh_from_db()
    assert (change.status, change.last_error) == ("pending", "HTTP 500: Internal Server Error")
    assert change.next_attempt_at > timezone.now()


def test_it_gives_up_after_the_last_attempt(klaviyo, django_capture_on_commit_callbacks) -> None:
    klaviyo.post(SUPPRESS_URL, status=503)

    with django_capture_on_commit_callbacks(execute=True):
        change = consent_change_create(kind="suppress", addresses=[{"email": "a@x.io"}])

    change.refresh_from_db()
    assert change.status == "failed"
    assert change.attempts == 3
    assert change.last_error == "HTTP 503: Service Unavailable (gave up after 3 attempts)"
    assert change.next_attempt_at is None


def test_a_change_no_request_of_which_ends_within_the_lease_backs_off_and_gives_up(
    klaviyo, settings
) -> None:
    """Not one request fits in a lease (Klaviyo that slow): no attempt given back, else it
    would be claimed again at once, without end."""
    settings.KLAVIYO_SEND_LEASE_SECONDS = 1  # shorter than one request
    settings.KLAVIYO_RETRY_BASE_DELAY = 2.0
    settings.KLAVIYO_RETRY_JITTER = 0.0
    change = consent_change_create(kind="suppress", addresses=[{"email": "a@x.io"}])

    outcomes = []
    for _ in range(settings.KLAVIYO_MAX_ATTEMPTS):
        outcomes.append(consent_change_sync(change_id=change.id))
        ConsentChange.objects.filter(id=change.id).update(next_attempt_at=timezone.now())

    assert [(o.status, o.retry_in) for o in outcomes] == [
        ("retrying", 2.0),
        ("retrying", 4.0),
        ("failed", None),
    ]
    assert not klaviyo.calls
    change.refresh_from_db()
    assert (change.status, change.attempts) == ("failed", 3)
    assert change.last_error == (
        "Stopped short by the end of its send lease (gave up after 3 attempts)"
    )


def test_a_refusal_fails_at_once_with_klaviyos_detail(klaviyo) -> None:
    error = {
        "errors": [
            {
                "status": 400,
                "code": "invalid",
                "title": "Invalid input.",
                "detail": "consented_at must be in the past",
                "source": {"pointer": "/data/attributes/profiles/data/0"},
            }
        ]
    }
    klaviyo.post(SUBSCRIBE_URL, status=400, json=error)
    change = consent_change_create(
        kind="subscribe", addresses=[ANN], channels=["email"], list_id="Y6nRLr"
    )

    outcome = consent_change_sync(change_id=change.id)

    change.refresh_from_db()
    assert (outcome.status, change.status, change.attempts) == ("failed", "failed", 1)
    assert change.last_error == (
        "HTTP 400: Invalid input. consented_at must be in the past "
        "(/data/attributes/profiles/data/0)"
    )
    assert len(klaviyo.calls) == 1


def test_a_change_goes_on_where_a_failure_stopped_it(klaviyo) -> None:
    klaviyo.post(SUPPRESS_URL, status=202, json=_job("J1"))
    klaviyo.post(SUPPRESS_URL, status=503)
    klaviyo.post(SUPPRESS_URL, status=202, json=_job("J2"))
    emails = [f"p{n}@example.com" for n in range(150)]
    change = consent_change_create(kind="suppress", addresses=[{"email": e} for e in emails])

    assert consent_change_sync(change_id=change.id).status == "retrying"
    assert ConsentChangeProfile.objects.filter(sent_at__isnull=False).count() == 100
    ConsentChange.objects.filter(id=change.id).update(next_attempt_at=timezone.now())
    assert consent_change_sync(change_id=change.id).status == "sent"

    third = _bodies(klaviyo)[2]["attributes"]["profiles"]["data"]
    assert [p["attributes"]["email"] for p in third] == emails[100:]
    assert ConsentChange.objects.get(id=change.id).klaviyo_job_ids == ["J1", "J2"]


def test_without_a_klaviyo_key_a_change_waits_pending(settings) -> None:
    settings.KLAVIYO_API_KEY = ""
    change = consent_change_create(kind="suppress", addresses=[{"email": "a@x.io"}])

    assert consent_change_sync(change_id=change.id).status == "waiting"

    change.refresh_from_db()
    assert (change.status, change.attempts, change.last_error) == ("pending", 0, NO_KEY_MESSAGE)


def test_a_change_another_worker_holds_is_left_alone(klaviyo) -> None:
    change = consent_change_create(kind="suppress", addresses=[{"email": "a@x.io"}])
    held_until = timezone.now() + timedelta(seconds=60)
    ConsentChange.objects.filter(id=change.id).update(attempts=1, next_attempt_at=held_until)

    assert consent_change_sync(change_id=change.id).status == "busy"
    assert ConsentChange.objects.get(id=change.id).attempts == 1
    assert not klaviyo.calls


def test_the_sweeper_queues_changes_nobody_queued(klaviyo, settings) -> None:
    klaviyo.post(SUPPRESS_URL, status=202, json=_job("J1"))
    old = consent_change_create(kind="suppress", addresses=[{"email": "a@x.io"}])
    fresh = consent_change_create(kind="suppress", addresses=[{"email": "b@x.io"}])
    long_ago = timezone.now() - timedelta(seconds=settings.SYNC_STALE_PENDING_SECONDS + 5)
    ConsentChange.objects.filter(id=old.id).update(created_at=long_ago)

    assert tasks.requeue_stale_consent_changes() == 1

    assert ConsentChange.objects.get(id=old.id).status == "sent"
    assert ConsentChange.objects.get(id=fresh.id).status == "pending"
    assert consent_changes_stale(now=timezone.now(), older_than=timedelta(0), limit=10) == [
        fresh.id
    ]


def test_a_change_erased_once_claimed_is_let_go(klaviyo, monkeypatch) -> None:
    change = consent_change_create(kind="suppress", addresses=[{"email": "a@x.io"}])

    def claim_then_erase(change_id, now) -> str:
        ConsentChange.objects.filter(id=change_id).delete()
        return "claimed"

    monkeypatch.setattr("klaviyo_sync.consent_sync._claim", claim_then_erase)

    assert consent_change_sync(change_id=change.id).status == "none"
    assert not klaviyo.calls
