"""End to end against the Klaviyo emulator (which keeps data as Klaviyo does): what a Klaviyo
account ends up holding after events and profile syncs. Deltas, clearing, ordering, currency,
anonymous visitors, 409 duplicate_profile."""

import pytest

from events.models import Event, Profile, SyncStatus
from klaviyo_emulator.server import Emulator
from klaviyo_sync.profile_sync import profile_sync
from klaviyo_sync.tests.conftest import klaviyo_is

pytestmark = pytest.mark.django_db


@pytest.fixture
def klaviyo(emulator, settings):
    return klaviyo_is(emulator, settings)


@pytest.fixture
def post(api_client, django_capture_on_commit_callbacks):
    """Posts events (one or a list, as a bulk request) and runs their sync."""

    def post(*events: dict) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            if len(events) == 1:
                response = api_client.post("/events", events[0], format="json")
            else:
                response = api_client.post("/events/bulk", {"events": events}, format="json")
        assert response.status_code in (200, 201), response.content
        assert set(Event.objects.values_list("sync_status", flat=True)) == {SyncStatus.SENT}

    return post


def in_klaviyo(emulator: Emulator, **identifier) -> dict:
    """The attributes Klaviyo holds for the profile with this identifier."""
    [profile] = [
        p
        for p in emulator.app.store.profiles.values()
        if all(p.attributes.get(k) == v for k, v in identifier.items())
    ]
    return profile.attributes


def klaviyo_import(emulator: Emulator, attributes: dict) -> str:
    """A profile written in Klaviyo by someone else (a signup form, another integration)."""
    profile, _ = emulator.app.store.profile_upsert(attributes=attributes)
    return profile.id


def event(**fields) -> dict:
    return {"eventName": "Page View", "email": "ann@example.com", **fields}


def test_an_unrelated_event_leaves_an_edit_made_in_klaviyo_alone(klaviyo, post):
    post(event(profileAttributes={"firstName": "Ann", "plan": "free"}))
    klaviyo_import(
        klaviyo, {"email": "ann@example.com", "first_name": "Annie", "properties": {"plan": "pro"}}
    )

    post(event(eventName="Viewed Product"))
    post(event(eventName="Added to Cart", profileAttributes={"city": "Oslo"}))

    held = in_klaviyo(klaviyo, email="ann@example.com")
    assert held["first_name"] == "Annie"
    assert held["properties"] == {"plan": "pro"}
    assert held["location"] == {"city": "Oslo"}
    # The local profile stays the merged view of what clients sent.
    assert Profile.objects.get().attributes == {"firstName": "Ann", "plan": "free", "city": "Oslo"}


def test_null_clears_in_klaviyo_too(klaviyo, post):
    set_all = {"firstName": "Ann", "plan": "pro", "seats": 3, "location": {"city": "Oslo"}}
    post(event(profileAttributes=set_all))

    post(event(profileAttributes={"firstName": None, "plan": None, "location": {"city": None}}))

    held = in_klaviyo(klaviyo, email="ann@example.com")
    assert "first_name" not in held
    assert held["properties"] == {"seats": 3}
    assert held.get("location") in ({}, None)
    assert Profile.objects.get().attributes == {"seats": 3, "location": {}}


def test_revision_2026_10_15_unsets_with_meta_beside_the_attributes(klaviyo, post, settings):
    settings.KLAVIYO_REVISION = "2026-10-15"
    post(event(profileAttributes={"plan": "pro", "seats": 3}))

    post(event(profileAttributes={"plan": None}))

    assert in_klaviyo(klaviyo, email="ann@example.com")["properties"] == {"seats": 3}


@pytest.mark.parametrize("bulk_from", [1, 1000], ids=["bulk job", "one by one"])
def test_events_of_one_profile_sent_together_carry_their_changes_merged_in_order(
    klaviyo, post, settings, bulk_from
):
    settings.KLAVIYO_BULK_MIN_EVENTS = bulk_from
    post(
        event(profileAttributes={"plan": "a", "tier": 1}),
        event(eventName="B", profileAttributes={"plan": "b"}),
        event(eventName="C", profileAttributes={"tier": None, "firstName": "Ann"}),
        event(eventName="D", email="bob@example.com", profileAttributes={"plan": "x"}),
    )

    ann = in_klaviyo(klaviyo, email="ann@example.com")
    assert ann["properties"] == {"plan": "b"}
    assert ann["first_name"] == "Ann"
    assert in_klaviyo(klaviyo, email="bob@example.com")["properties"] == {"plan": "x"}
    local = Profile.objects.get(email="ann@example.com").attributes
    assert local == {"plan": "b", "firstName": "Ann"}


def test_a_reused_order_id_reaches_klaviyo_as_two_events(klaviyo, post):
    post(event(eventName="Placed Order", uniqueId="order-1001", value=20))
    post(event(eventName="Fulfilled Order", uniqueId="order-1001", value=20))

    stored = klaviyo.app.store.events
    assert sorted(e.metric_name for e in stored) == ["Fulfilled Order", "Placed Order"]


def test_value_currency_and_an_anonymous_visitor_reach_klaviyo(klaviyo, post):
    post(event(value=12.5, valueCurrency="EUR"))
    post(
        {
            "eventName": "Page View",
            "profileAttributes": {"anonymousId": "anon-7", "locale": "fr-FR"},
        }
    )

    currencies = {e.value_currency for e in klaviyo.app.store.events}
    assert currencies == {"EUR", None}
    visitor = in_klaviyo(klaviyo, anonymous_id="anon-7")
    assert visitor["locale"] == "fr-FR"


# --- profile syncs ---------------------------------------------------------------------------


def test_a_profile_sync_clears_what_clients_cleared(klaviyo, api_client):
    # Stored only (no sync run): the profile sync is what reaches Klaviyo.
    for attributes in (
        {"plan": "pro", "firstName": "Ann", "zip": "0150"},
        {"plan": None, "firstName": None, "zip": None},
    ):
        api_client.post("/events", event(profileAttributes=attributes), format="json")
    klaviyo_import(
        klaviyo,
        {
            "email": "ann@example.com",
            "first_name": "Ann",
            "location": {"zip": "0150"},
            "properties": {"plan": "pro", "n": 1},
        },
    )

    profile = profile_sync(profile_id=Profile.objects.get().id)

    assert profile.sync_status == SyncStatus.SENT
    held = in_klaviyo(klaviyo, email="ann@example.com")
    assert "first_name" not in held
    assert held["properties"] == {"n": 1}
    assert held["location"] == {}


def test_a_profile_sync_updates_klaviyos_duplicate_profile_after_a_409(klaviyo, settings):
    ann = klaviyo_import(klaviyo, {"email": "ann@example.com"})
    other = klaviyo_import(klaviyo, {"external_id": "crm-7", "first_name": "Bo"})
    profile = Profile.objects.create(
        identity="ann@example.com",
        email="ann@example.com",
        external_id="crm-7",
        attributes={"externalId": "crm-7", "firstName": "Ann", "plan": "pro"},
    )

    synced = profile_sync(profile_id=profile.id)

    assert synced.sync_status == SyncStatus.SENT
    assert synced.klaviyo_id == ann
    assert "409 duplicate_profile" in synced.last_error and ann in synced.last_error
    held = in_klaviyo(klaviyo, email="ann@example.com")
    assert held["first_name"] == "Ann"
    assert held["properties"] == {"plan": "pro"}
    assert in_klaviyo(klaviyo, external_id="crm-7")["first_name"] == "Bo"
    assert klaviyo.app.store.profiles[other].attributes.get("email") is None


def test_an_order_id_shared_by_two_metrics_goes_in_one_bulk_request(klaviyo, post, settings):
    settings.KLAVIYO_BULK_MIN_EVENTS = 1
    post(
        event(eventName="Placed Order", uniqueId="order-9"),
        event(eventName="Fulfilled Order", uniqueId="order-9"),
    )

    assert klaviyo.app.store.requests_by_endpoint["POST /api/event-bulk-create-jobs/"] == 1
    assert len(klaviyo.app.store.events) == 2
