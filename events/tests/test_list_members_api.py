"""POST and DELETE /lists/{listId}/profiles: each request stored as one consent change (kind
list_add or list_remove) with its addresses, answered 202; bad input a 400 naming the rule and
nothing stored. The sending is klaviyo_sync's (test_list_sync.py)."""

import pytest

from events.models import ConsentChange, ConsentChangeProfile, ConsentKind
from events.tests.factories import ProfileFactory
from klaviyo_client.limits import MAX_LIST_MEMBERS

pytestmark = pytest.mark.django_db

URL = "/lists/Y6nRLr/profiles"


def messages(response) -> list[str]:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["statusCode"] == 400 and body["error"] == "Bad Request"
    return body["message"]


def test_it_stores_an_add_to_the_list_and_answers_202(api_client):
    known = ProfileFactory(email="ann@example.com")

    response = api_client.post(
        URL, {"emails": ["Ann@Example.com", "bob@example.com"]}, format="json"
    )

    change = ConsentChange.objects.get()
    assert response.status_code == 202
    assert response.json() == {"id": change.id, "status": "pending", "count": 2}
    assert (change.kind, change.list_id, change.profile_count) == (
        ConsentKind.LIST_ADD,
        "Y6nRLr",
        2,
    )
    rows = list(change.profiles.order_by("id").values_list("email", "profile_id"))
    assert rows == [("ann@example.com", known.id), ("bob@example.com", None)]


def test_delete_stores_a_removal_from_the_list(api_client):
    response = api_client.delete(URL, {"emails": ["ann@example.com"]}, format="json")

    assert response.status_code == 202
    change = ConsentChange.objects.get()
    assert change.kind == ConsentKind.LIST_REMOVE and change.list_id == "Y6nRLr"
    assert list(change.profiles.values_list("email", flat=True)) == ["ann@example.com"]


def test_an_address_given_twice_counts_once(api_client):
    response = api_client.post(
        URL, {"emails": ["ann@example.com", "ANN@example.com"]}, format="json"
    )

    assert response.json()["count"] == 1
    assert ConsentChangeProfile.objects.count() == 1


def test_it_takes_a_thousand_emails(api_client):
    emails = [f"user{i}@example.com" for i in range(MAX_LIST_MEMBERS)]

    response = api_client.post(URL, {"emails": emails}, format="json")

    assert response.status_code == 202
    assert ConsentChangeProfile.objects.count() == MAX_LIST_MEMBERS


@pytest.mark.parametrize("list_id", ["Y6nRL", "Y6nRLrr", "Y6n-Lr", "Y6n_Lr", "Y6n%20L"])
def test_it_rejects_a_list_id_that_is_not_klaviyos(api_client, list_id):
    response = api_client.post(
        f"/lists/{list_id}/profiles", {"emails": ["ann@example.com"]}, format="json"
    )

    assert messages(response) == [
        "listId must be a Klaviyo list id: 6 letters or digits (see GET /klaviyo/lists)"
    ]
    assert not ConsentChange.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"emails": []}, "emails must hold at least one email"),
        ({}, "emails is required"),
        (
            {"emails": [f"u{i}@example.com" for i in range(MAX_LIST_MEMBERS + 1)]},
            "emails must hold at most 1000 emails",
        ),
        ({"emails": ["ann@example.com", "not-an-email"]}, "emails.1 must be a valid email"),
        ({"emails": [12]}, "emails.0 must be a valid email"),
        ({"emails": "ann@example.com"}, "emails must be an array of emails"),
        ({"emails": ["ann@example.com"], "listId": "Y6nRLr"}, "property listId should not exist"),
        (["ann@example.com"], "must be a JSON object"),
    ],
)
def test_it_rejects_a_bad_body_and_stores_nothing(api_client, body, message):
    for method in (api_client.post, api_client.delete):
        response = method(URL, body, format="json")

        assert message in " | ".join(messages(response))
    assert not ConsentChange.objects.exists()


def test_it_needs_the_api_key(anonymous_client):
    response = anonymous_client.post(URL, {"emails": ["ann@example.com"]}, format="json")

    assert response.status_code == 401
    assert not ConsentChange.objects.exists()
