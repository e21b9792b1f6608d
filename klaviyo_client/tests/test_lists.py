"""The list calls of the Klaviyo client: membership bodies, and profile ids found by email in
as few requests as Klaviyo's page and a URL allow (HTTP stubbed with `responses`)."""

import json

import pytest
import responses

from klaviyo_client.client import KlaviyoClient
from klaviyo_client.limits import MAX_FILTER_CHARS, MAX_PROFILES_PAGE
from klaviyo_client.lists import email_filters
from klaviyo_client.tests.test_client import BASE, KEY, query_of


@pytest.fixture
def client() -> KlaviyoClient:
    return KlaviyoClient(api_key=KEY, base_url=BASE, revision="2026-07-15", timeout=(1.0, 2.0))


def profile(profile_id: str, email: str) -> dict:
    return {"type": "profile", "id": profile_id, "attributes": {"email": email}}


@responses.activate
def test_it_adds_and_removes_profiles_by_id(client):
    url = f"{BASE}/lists/Y6nRLr/relationships/profiles"
    responses.post(url, status=204)
    responses.delete(url, status=204)

    client.list_profiles_add(list_id="Y6nRLr", profile_ids=["01A", "01B"])
    client.list_profiles_remove(list_id="Y6nRLr", profile_ids=["01B"])

    bodies = [json.loads(call.request.body) for call in responses.calls]
    assert bodies == [
        {"data": [{"type": "profile", "id": "01A"}, {"type": "profile", "id": "01B"}]},
        {"data": [{"type": "profile", "id": "01B"}]},
    ]
    assert [call.request.method for call in responses.calls] == ["POST", "DELETE"]


@pytest.mark.parametrize("count", [0, 1001])
def test_a_membership_call_takes_one_to_a_thousand_ids(client, count):
    with pytest.raises(ValueError, match="1 to 1000 profile ids"):
        client.list_profiles_add(list_id="Y6nRLr", profile_ids=[f"0{i}" for i in range(count)])


@responses.activate
def test_it_finds_250_profiles_in_three_requests(client):
    emails = [f"user{i:03}@example.com" for i in range(250)]
    pages = iter([emails[:100], emails[100:200], emails[200:]])
    responses.add_callback(
        responses.GET,
        f"{BASE}/profiles",
        callback=lambda request: (
            200,
            {},
            json.dumps({"data": [profile(f"P{e[4:7]}", e.upper()) for e in next(pages)[:-1]]}),
        ),
    )

    ids = client.profile_ids_by_email(emails=[e.upper() for e in emails])

    assert len(responses.calls) == 3
    assert len(ids) == 247  # the last address of each page is not in Klaviyo
    assert ids["user000@example.com"] == "P000"
    first = query_of(responses.calls[0])
    assert first["page[size]"] == ["100"] and first["fields[profile]"] == ["email"]
    assert first["filter"][0].startswith('any(email,["user000@example.com","user001@example.com"')


def test_filters_hold_a_page_of_addresses_at_most_and_stay_short():
    short = [f"u{i}@example.com" for i in range(MAX_PROFILES_PAGE + 1)]
    long = [f"{'x' * 200}{i}@example.com" for i in range(60)]

    assert [expression.count("@") for expression in email_filters(short)] == [100, 1]
    long_filters = list(email_filters(long))
    assert len(long_filters) > 1
    assert all(len(expression) <= MAX_FILTER_CHARS for expression in long_filters)
    assert sum(expression.count("@") for expression in long_filters) == 60
