"""valueCurrency (Klaviyo's value_currency), anonymous visitors (anonymous_id) and locale."""

import pytest

from events.models import Event, Profile

pytestmark = pytest.mark.django_db

PURCHASE = {"eventName": "Purchase", "email": "ann@example.com", "value": 12.5}


def post(api_client, **fields):
    return api_client.post("/events", {**PURCHASE, **fields}, format="json")


def test_it_stores_and_answers_a_value_currency(api_client):
    response = post(api_client, valueCurrency="EUR")

    assert response.status_code == 201
    assert response.json()["valueCurrency"] == "EUR"
    assert Event.objects.get().value_currency == "EUR"


@pytest.mark.parametrize("code", ["eur", "EURO", "ABC", "XXX", "", 978, True])
def test_it_refuses_a_value_currency_that_is_not_a_currency(api_client, code):
    response = post(api_client, valueCurrency=code)

    assert response.status_code == 400
    assert response.json()["message"] == [
        "valueCurrency must be an ISO 4217 currency code, like USD"
    ]
    assert Event.objects.count() == 0


def test_a_valid_currency_attribute_supplies_a_missing_value_currency(api_client):
    post(api_client, eventAttributes={"currency": "JPY"})

    assert Event.objects.get().value_currency == "JPY"


@pytest.mark.parametrize(
    "fields",
    [
        {"eventAttributes": {"currency": "dollars"}},  # not a code
        {"eventAttributes": {"currency": "JPY"}, "value": None},  # nothing to say it of
        {"eventAttributes": {"currency": "JPY"}, "valueCurrency": "USD"},  # said already
    ],
)
def test_the_currency_attribute_is_used_only_when_valid_and_needed(api_client, fields):
    response = post(api_client, **fields)

    assert response.status_code == 201
    expected = fields.get("valueCurrency")
    assert Event.objects.get().value_currency == expected


def test_a_bulk_request_takes_value_currency_per_event(api_client):
    events = [
        {**PURCHASE, "valueCurrency": "GBP"},
        {**PURCHASE, "eventAttributes": {"currency": "CHF"}},
        {**PURCHASE, "valueCurrency": "pounds"},
    ]

    refused = api_client.post("/events/bulk", {"events": events}, format="json")
    stored = api_client.post("/events/bulk", {"events": events[:2]}, format="json")

    assert refused.json()["message"] == [
        "events.2.valueCurrency must be an ISO 4217 currency code, like USD"
    ]
    assert stored.status_code == 201
    assert sorted(Event.objects.values_list("value_currency", flat=True)) == ["CHF", "GBP"]


def test_an_anonymous_id_alone_identifies_the_profile_of_an_event(api_client):
    sent = {"eventName": "Page View", "profileAttributes": {"anonymousId": "anon-7f3a"}}

    first = api_client.post("/events", sent, format="json")
    second = api_client.post("/events", sent, format="json")

    assert (first.status_code, second.status_code) == (201, 201)
    profile = Profile.objects.get()
    assert profile.identity == "anonymous:anon-7f3a"
    assert profile.events.count() == 2


@pytest.mark.parametrize("anonymous_id", ["", "  ", 42, "a" * 256])
def test_it_refuses_an_anonymous_id_that_is_not_a_short_string(api_client, anonymous_id):
    sent = {"eventName": "Page View", "profileAttributes": {"anonymousId": anonymous_id}}

    response = api_client.post("/events", sent, format="json")

    assert response.status_code == 400
    assert response.json()["message"][0].startswith("profileAttributes.anonymousId must be")
    assert Profile.objects.count() == 0


def test_a_repeat_of_an_anonymous_visitors_event_is_one_event(api_client):
    sent = {
        "eventName": "Page View",
        "uniqueId": "view-1",
        "profileAttributes": {"anonymousId": "anon-1"},
    }

    answers = [api_client.post("/events", sent, format="json").status_code for _ in range(2)]

    assert answers == [201, 200]
    assert Event.objects.count() == 1
