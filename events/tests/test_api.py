"""POST /events: the contract of the answer, validation of each field, idempotency."""

import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import TEST_API_KEY
from events.models import Event, Profile, SyncStatus

pytestmark = pytest.mark.django_db

PURCHASE = {
    "eventName": "Purchase",
    "eventAttributes": {"amount": 99.99, "currency": "USD"},
    "profileAttributes": {"firstName": "John", "lastName": "Doe"},
    "email": "john.doe@example.com",
}
RESPONSE_FIELDS = {
    "id",
    "eventName",
    "eventAttributes",
    "profileAttributes",
    "email",
    "time",
    "value",
    "valueCurrency",
    "uniqueId",
    "sentToKlaviyo",
    "syncStatus",
    "attempts",
    "lastError",
    "klaviyoResponse",
    "syncedAt",
    "createdAt",
}
UTC_MILLISECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ABSENT = object()


def error(*messages: str) -> dict:
    return {"statusCode": 400, "message": list(messages), "error": "Bad Request"}


def assert_nothing_stored() -> None:
    assert Event.objects.count() == 0
    assert Profile.objects.count() == 0


# --- the answer -----------------------------------------------------------------------------------


def test_it_stores_an_event_and_its_profile(api_client, settings):
    settings.KLAVIYO_API_KEY = "pk_test"  # else it is stored `skipped`
    response = api_client.post("/events", PURCHASE, format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == RESPONSE_FIELDS
    assert body["eventName"] == "Purchase"
    assert body["eventAttributes"] == {"amount": 99.99, "currency": "USD"}
    assert body["profileAttributes"] == {"firstName": "John", "lastName": "Doe"}
    assert body["email"] == "john.doe@example.com"
    assert body["sentToKlaviyo"] is False
    assert body["syncStatus"] == "pending"
    assert body["klaviyoResponse"] is None
    assert body["attempts"] == 0
    assert body["lastError"] == ""
    assert body["syncedAt"] is None
    assert body["value"] is None
    assert body["uniqueId"] is None
    assert UTC_MILLISECONDS.match(body["createdAt"])
    event = Event.objects.get(pk=body["id"])
    assert event.event_name == "Purchase"
    assert event.sync_status == SyncStatus.PENDING
    assert event.profile.email == "john.doe@example.com"
    assert event.profile.identity == "john.doe@example.com"
    assert event.profile.attributes == {"firstName": "John", "lastName": "Doe"}


def test_it_answers_every_field_it_was_sent(api_client):
    sent = {**PURCHASE, "time": "2025-09-15T12:00:00+02:00", "value": 99.99, "uniqueId": "o-1"}

    body = api_client.post("/events", sent, format="json").json()

    assert uuid.UUID(body["id"])
    assert body["time"] == "2025-09-15T10:00:00.000Z"
    assert body["value"] == 99.99
    assert body["uniqueId"] == "o-1"
    event = Event.objects.get(pk=body["id"])
    assert event.time == datetime(2025, 9, 15, 10, tzinfo=UTC)
    assert event.value == 99.99
    assert event.unique_id == "o-1"
    assert event.event_attributes == {"amount": 99.99, "currency": "USD"}
    assert event.profile_attributes == {"firstName": "John", "lastName": "Doe"}


def test_it_renders_times_in_utc_with_milliseconds_whatever_the_offset_sent(api_client):
    sent = {**PURCHASE, "time": "2025-09-15T12:00:00.123456-05:30"}

    body = api_client.post("/events", sent, format="json").json()

    assert body["time"] == "2025-09-15T17:30:00.123Z"
    assert Event.objects.get().time == datetime(2025, 9, 15, 17, 30, 0, 123456, tzinfo=UTC)


def test_a_time_without_offset_is_utc(api_client):
    body = api_client.post("/events", {**PURCHASE, "time": "2025-09-15T10:00:00"}, format="json")

    assert body.json()["time"] == "2025-09-15T10:00:00.000Z"


def test_time_defaults_to_now_and_attributes_to_empty_objects(api_client):
    before = timezone.now()

    response = api_client.post("/events", {"eventName": "Ping", "email": "a@example.com"})

    assert response.status_code == 201
    body = response.json()
    assert body["eventAttributes"] == {}
    assert body["profileAttributes"] == {}
    event = Event.objects.get()
    assert before <= event.time <= timezone.now()
    assert event.created_at >= before
    assert UTC_MILLISECONDS.match(body["time"])
    answered = datetime.fromisoformat(body["time"].replace("Z", "+00:00"))
    assert answered == event.time.replace(microsecond=event.time.microsecond // 1000 * 1000)


# --- validation -----------------------------------------------------------------------------------

A_YEAR_AND_A_DAY_AHEAD = (timezone.now() + timedelta(days=366)).isoformat()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("eventName", ABSENT, "eventName is required"),
        ("eventName", None, "eventName must not be null"),
        ("eventName", "", "eventName must not be empty"),
        ("eventName", "   ", "eventName must not be empty"),
        (
            "eventName",
            "x" * 128,
            "eventName must be at most 127 characters: Klaviyo's limit for a metric name",
        ),
        ("eventName", {"name": "x"}, "eventName must be a string"),
        ("email", "not-an-email", "email must be a valid email"),
        ("email", "john@", "email must be a valid email"),
        ("email", "", "email must not be empty"),
        ("email", True, "email must be a string"),
        ("eventAttributes", [1, 2], "eventAttributes must be an object"),
        ("eventAttributes", "amount=1", "eventAttributes must be an object"),
        ("eventAttributes", None, "eventAttributes must not be null"),
        ("profileAttributes", ["John"], "profileAttributes must be an object"),
        ("profileAttributes", 7, "profileAttributes must be an object"),
        ("time", "yesterday", "time must be an ISO-8601 date-time, like 2025-09-15T10:00:00Z"),
        (
            "time",
            "2025-02-30T10:00:00Z",
            "time must be an ISO-8601 date-time, like 2025-09-15T10:00:00Z",
        ),
        ("time", 1757930400, "time must be an ISO-8601 date-time, like 2025-09-15T10:00:00Z"),
        ("time", "1999-12-31T23:59:59Z", "time must be after 2000-01-01T00:00:00Z"),
        pytest.param(  # named: an id with the time in it differs between xdist workers
            "time",
            A_YEAR_AND_A_DAY_AHEAD,
            "time must be at most one year in the future",
            id="time-a year and a day ahead-time must be at most one year in the future",
        ),
        ("value", "ten", "value must be a number"),
        ("value", True, "value must be a number"),
        ("value", {"amount": 1}, "value must be a number"),
        ("value", "NaN", "value must be a number"),  # a string, whatever it spells
        ("value", "-Infinity", "value must be a number"),
        ("uniqueId", "", "uniqueId must not be empty"),
        ("uniqueId", "u" * 256, "uniqueId must be at most 255 characters"),
        ("uniqueId", ["a"], "uniqueId must be a string"),
    ],
)
def test_it_rejects_an_invalid_field(api_client, field, value, message):
    sent = {key: val for key, val in PURCHASE.items() if key != field}
    if value is not ABSENT:
        sent[field] = value

    response = api_client.post("/events", sent, format="json")

    assert response.status_code == 400
    assert response.json() == error(message)
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("profile_attributes", "message"),
    [
        ({"phoneNumber": "5005550006"}, "profileAttributes.phoneNumber must be in E.164 format"),
        ({"phoneNumber": "+1 500 555 0006"}, "profileAttributes.phoneNumber must be in E.164"),
        ({"phoneNumber": 15005550006}, "profileAttributes.phoneNumber must be in E.164 format"),
        # `$` matches before a final newline, `\d` any Unicode digit: neither passes.
        ({"phoneNumber": "+15005550006\n"}, "profileAttributes.phoneNumber must be in E.164"),
        ({"phoneNumber": "+1500555000\u0666"}, "profileAttributes.phoneNumber must be in E.164"),
        ({"externalId": ""}, "profileAttributes.externalId must be a non-empty string"),
        ({"externalId": 42}, "profileAttributes.externalId must be a non-empty string"),
    ],
)
def test_it_rejects_a_bad_phone_number_or_external_id(api_client, profile_attributes, message):
    sent = {"eventName": "Purchase", "profileAttributes": profile_attributes}

    response = api_client.post("/events", sent, format="json")

    assert response.status_code == 400
    assert response.json()["message"][0].startswith(message)
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("not-an-email", "profileAttributes.email must be a valid email"),
        ("ann@", "profileAttributes.email must be a valid email"),
        ("", "profileAttributes.email must not be empty"),
        (42, "profileAttributes.email must be a string"),
    ],
)
def test_it_rejects_an_invalid_email_among_the_profile_attributes(api_client, email, message):
    # Of a profile known by its phone number it is the email Klaviyo gets: Klaviyo would
    # answer 400 Invalid email, and the event would fail after a 201.
    sent = {
        "eventName": "Purchase",
        "profileAttributes": {"phoneNumber": "+15005550006", "email": email},
    }

    response = api_client.post("/events", sent, format="json")

    assert response.status_code == 400
    assert response.json() == error(message)
    assert_nothing_stored()


def test_it_stores_an_email_among_the_profile_attributes_as_the_top_level_email(api_client):
    sent = {
        "eventName": "Purchase",
        "profileAttributes": {"phoneNumber": "+15005550006", "email": " Ann@Example.COM "},
    }

    response = api_client.post("/events", sent, format="json")

    assert response.status_code == 201
    expected = {"phoneNumber": "+15005550006", "email": "ann@example.com"}
    assert response.json()["profileAttributes"] == expected
    assert Event.objects.get().profile_attributes == expected
    assert Profile.objects.get().attributes == expected


def test_it_rejects_an_event_without_any_profile_identifier(api_client):
    sent = {"eventName": "Purchase", "profileAttributes": {"firstName": "John"}}

    response = api_client.post("/events", sent, format="json")

    assert response.status_code == 400
    assert response.json() == error(
        "an event needs email, profileAttributes.phoneNumber, profileAttributes.externalId "
        "or profileAttributes.anonymousId"
    )
    assert_nothing_stored()


def test_it_reports_every_bad_field_at_once(api_client):
    sent = {"eventName": "", "email": "nope", "value": "ten"}

    response = api_client.post("/events", sent, format="json")

    assert response.json()["message"] == [
        "eventName must not be empty",
        "email must be a valid email",
        "value must be a number",
    ]


@pytest.mark.parametrize("body", [[PURCHASE], "Purchase", 42])
def test_it_rejects_a_body_that_is_not_an_object(api_client, body):
    response = api_client.post("/events", body, format="json")

    assert response.status_code == 400
    assert response.json() == error("request body must be a JSON object")
    assert_nothing_stored()


def test_it_accepts_values_at_the_limits(api_client):
    sent = {
        **PURCHASE,
        "eventName": "x" * 127,
        "uniqueId": "u" * 255,
        "time": "2000-01-01T00:00:00Z",
        "value": 0,
    }

    response = api_client.post("/events", sent, format="json")

    assert response.status_code == 201
    event = Event.objects.get()
    assert (len(event.event_name), len(event.unique_id)) == (127, 255)
    assert event.time == datetime(2000, 1, 1, tzinfo=UTC)
    assert event.value == 0.0


@pytest.mark.parametrize(
    ("field", "sent", "message"),
    [
        ("value", "12", "value must be a number"),
        ("value", True, "value must be a number"),
        ("uniqueId", 12, "uniqueId must be a string"),
        ("eventName", 5, "eventName must be a string"),
        ("email", 7, "email must be a string"),
    ],
)
def test_a_value_of_the_wrong_json_type_is_refused_not_converted(api_client, field, sent, message):
    response = api_client.post("/events", {**PURCHASE, field: sent}, format="json")

    assert response.status_code == 400
    assert response.json()["message"] == [message]
    assert not Event.objects.exists()


def test_it_stores_the_email_trimmed_and_lower_cased(api_client):
    response = api_client.post(
        "/events", {**PURCHASE, "email": "  John.Doe@Example.COM "}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["email"] == "john.doe@example.com"
    assert Event.objects.get().email == "john.doe@example.com"
    assert Profile.objects.get().email == "john.doe@example.com"


def test_a_phone_number_identifies_a_profile_without_email(api_client):
    sent = {"eventName": "Call", "profileAttributes": {"phoneNumber": "+15005550006"}}

    response = api_client.post("/events", sent, format="json")

    assert response.status_code == 201
    assert response.json()["email"] is None
    profile = Profile.objects.get()
    assert (profile.identity, profile.email) == ("phone:+15005550006", None)
    assert profile.phone_number == "+15005550006"


def test_an_external_id_identifies_a_profile_without_email(api_client):
    sent = {"eventName": "Login", "profileAttributes": {"externalId": "user-42"}}

    first = api_client.post("/events", sent, format="json")
    second = api_client.post("/events", sent, format="json")

    assert (first.status_code, second.status_code) == (201, 201)
    profile = Profile.objects.get()
    assert (profile.identity, profile.external_id) == ("external:user-42", "user-42")
    assert profile.events.count() == 2


def test_an_email_with_phone_and_external_id_is_one_profile_keyed_by_email(api_client):
    attributes = {"phoneNumber": "+15005550006", "externalId": "user-42"}

    api_client.post("/events", {**PURCHASE, "profileAttributes": attributes}, format="json")

    profile = Profile.objects.get()
    assert profile.identity == "john.doe@example.com"
    assert (profile.phone_number, profile.external_id) == ("+15005550006", "user-42")


def test_it_works_with_a_trailing_slash(api_client):
    response = api_client.post("/events/", PURCHASE, format="json")

    assert response.status_code == 201
    assert Event.objects.count() == 1


# --- idempotency ----------------------------------------------------------------------------------


def test_a_repeated_unique_id_answers_200_with_the_first_event(api_client):
    first = api_client.post("/events", {**PURCHASE, "uniqueId": "order-1"}, format="json")
    changed = {
        **PURCHASE,
        "value": 5,
        "profileAttributes": {"firstName": "Jane"},
        "uniqueId": "order-1",
    }

    second = api_client.post("/events", changed, format="json")

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert Event.objects.get().value is None
    assert Profile.objects.get().attributes == {"firstName": "John", "lastName": "Doe"}


def test_a_unique_id_reused_by_another_metric_or_customer_is_a_new_event(api_client):
    # Shops reuse the order id across an order's life, as Klaviyo's unique_id allows: it is
    # unique per profile and metric.
    placed = {**PURCHASE, "eventName": "Placed Order", "uniqueId": "order-1001"}
    fulfilled = {**placed, "eventName": "Fulfilled Order"}
    other_customer = {**placed, "email": "jane@example.com"}

    answers = [
        api_client.post("/events", body, format="json")
        for body in (placed, fulfilled, other_customer, placed)
    ]

    assert [a.status_code for a in answers] == [201, 201, 201, 200]
    assert answers[3].json()["id"] == answers[0].json()["id"]
    assert sorted(Event.objects.values_list("event_name", "email")) == [
        ("Fulfilled Order", "john.doe@example.com"),
        ("Placed Order", "jane@example.com"),
        ("Placed Order", "john.doe@example.com"),
    ]


def test_events_without_unique_id_are_all_stored(api_client):
    for _ in range(3):
        assert api_client.post("/events", PURCHASE, format="json").status_code == 201

    assert Event.objects.count() == 3
    assert Profile.objects.count() == 1


def run_in_threads(count: int, work: Callable[[int, APIClient], object]) -> list:
    """Runs `work` in `count` threads released together, each with its own DB connection."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=TEST_API_KEY)
        try:
            barrier.wait(timeout=10)
            results[index] = work(index, client)
        except Exception as exc:  # surfaced by the assertions on `results`
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_one_unique_id_make_one_event_and_one_profile():
    sent = {**PURCHASE, "email": "racer@example.com", "uniqueId": "race-1"}

    responses = run_in_threads(6, lambda i, client: client.post("/events", sent, format="json"))

    statuses = sorted(getattr(r, "status_code", r) for r in responses)
    assert statuses == [200, 200, 200, 200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert Event.objects.filter(unique_id="race-1").count() == 1
    assert Profile.objects.filter(email="racer@example.com").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_for_one_new_profile_all_succeed_on_one_profile():
    def post(index: int, client: APIClient):
        sent = {**PURCHASE, "email": "new@example.com", "profileAttributes": {f"k{index}": index}}
        return client.post("/events", sent, format="json")

    responses = run_in_threads(6, post)

    assert [getattr(r, "status_code", r) for r in responses] == [201] * 6
    assert Event.objects.count() == 6
    profile = Profile.objects.get()
    assert profile.attributes == {f"k{index}": index for index in range(6)}
    assert set(Event.objects.values_list("profile_id", flat=True)) == {profile.id}
