"""Names and identifiers refuse control characters and bidirectional overrides (each variant
would be a Klaviyo metric or profile of its own, and they disguise what is shown); free-form
attributes are stored as sent."""

import pytest

from events.models import Event

pytestmark = pytest.mark.django_db

EVENT = {"eventName": "Purchase", "email": "ann@example.com"}
PROBLEM = "must not contain control characters or bidirectional overrides"
UNCLEAN = {
    "nul": "Pur\x00chase",
    "ansi-escape": "\x1b[31mPurchase\x1b[0m",
    "tab": "Pur\tchase",
    "delete": "Purchase\x7f",
    "c1-next-line": "Pur\x85chase",
    "right-to-left-override": "Purchase\u202egnp.exe",
    "left-to-right-isolate": "\u2066Purchase",
}


def messages(response) -> list[str]:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["statusCode"] == 400
    return body["message"]


@pytest.mark.parametrize("value", UNCLEAN.values(), ids=UNCLEAN.keys())
@pytest.mark.parametrize("field", ["eventName", "uniqueId", "email"])
def test_a_name_or_identifier_with_a_control_or_bidi_character_is_refused(api_client, field, value):
    response = api_client.post("/events", {**EVENT, field: value}, format="json")

    assert messages(response) == [f"{field} {PROBLEM}"]
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({"firstName": "Ann\u202e"}, "profileAttributes.firstName"),
        ({"last_name": "\x1b[2JDoe"}, "profileAttributes.last_name"),
        ({"organization": "Acme\x00"}, "profileAttributes.organization"),
        ({"externalId": "ext\x001"}, "profileAttributes.externalId"),
        ({"anonymousId": "anon\u2067"}, "profileAttributes.anonymousId"),
        ({"location": {"city": "Par\x07is"}}, "profileAttributes.location.city"),
    ],
)
def test_a_standard_profile_attribute_with_a_control_character_is_refused(
    api_client, attributes, field
):
    response = api_client.post("/events", {**EVENT, "profileAttributes": attributes}, format="json")

    assert messages(response) == [f"{field} {PROBLEM}"]
    assert not Event.objects.exists()


def test_a_bulk_request_names_the_bad_item(api_client):
    events = [EVENT, EVENT, {**EVENT, "eventName": "Page\u202eView"}]
    response = api_client.post("/events/bulk", {"events": events}, format="json")

    assert messages(response) == [f"events.2.eventName {PROBLEM}"]
    assert not Event.objects.exists()


def test_free_form_attributes_are_stored_as_sent(api_client):
    free = {"note": "\x1b[31mred\x1b[0m\u202e", "nul": "a\x00b", "lines": "one\ntwo"}
    payload = {
        **EVENT,
        "eventAttributes": free,
        "profileAttributes": {"firstName": "Ann", "nickname": "\u202eAnn\t"},
    }
    response = api_client.post("/events", payload, format="json")

    assert response.status_code == 201, response.content
    event = Event.objects.get()
    assert event.event_attributes == free
    assert event.profile_attributes["nickname"] == "\u202eAnn\t"


@pytest.mark.parametrize(
    "name",
    ["شراء", "Café ☕", "注文完了", "Order \u200fplaced"],
    ids=["arabic", "emoji", "cjk", "rlm"],
)
def test_names_in_any_script_are_accepted(api_client, name):
    response = api_client.post("/events", {**EVENT, "eventName": name}, format="json")

    assert response.status_code == 201, response.content
    assert Event.objects.get().event_name == name
