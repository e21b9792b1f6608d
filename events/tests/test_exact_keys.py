"""Text keys compare exactly, as in Klaviyo, on MariaDB (migration 0003) as on SQLite: case,
accents and trailing spaces make a different uniqueId, metric name or profile."""

import pytest
from django.core.cache import cache
from django.db import IntegrityError, transaction

from events.models import Event, Metric, Profile
from events.selectors import metric_klaviyo_id
from events.services import profiles_upsert
from klaviyo_sync.read_services import metric_ids_store

pytestmark = pytest.mark.django_db

DAY = "2025-09-15"
AT_NOON = "2025-09-15T12:00:00Z"


@pytest.fixture(autouse=True)
def _no_klaviyo(settings):
    # The read endpoints answer from the local database.
    settings.KLAVIYO_API_KEY = ""
    cache.clear()


def post(api_client, **fields):
    return api_client.post("/events", {"eventName": "Purchase", **fields}, format="json")


def test_it_stores_two_events_for_unique_ids_differing_only_in_case(api_client):
    first = post(api_client, email="ann@example.com", uniqueId="K1")
    second = post(api_client, email="ann@example.com", uniqueId="k1")

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert sorted(Event.objects.values_list("unique_id", flat=True)) == ["K1", "k1"]


def test_it_stores_one_event_for_a_repeated_unique_id(api_client):
    first = post(api_client, email="ann@example.com", uniqueId="K1")
    second = post(api_client, email="ann@example.com", uniqueId="K1")

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert list(Event.objects.values_list("unique_id", flat=True)) == ["K1"]


def test_a_bulk_stores_each_case_and_accent_variant_of_a_unique_id(api_client):
    keys = ["K1", "k1", "é1", "e1", "K1"]
    sent = [{"eventName": "Purchase", "email": "ann@example.com", "uniqueId": k} for k in keys]

    response = api_client.post("/events/bulk", {"events": sent}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["created"] == 4
    assert [item["duplicate"] for item in body["events"]] == [False] * 4 + [True]
    assert body["events"][4]["id"] == body["events"][0]["id"]
    assert sorted(Event.objects.values_list("unique_id", flat=True)) == sorted(keys[:4])


def test_a_unique_id_posted_in_another_case_after_a_bulk_is_a_new_event(api_client):
    sent = [{"eventName": "Purchase", "email": "ann@example.com", "uniqueId": "Order-7"}]
    api_client.post("/events/bulk", {"events": sent}, format="json")

    response = post(api_client, email="ann@example.com", uniqueId="ORDER-7")

    assert response.status_code == 201
    assert Event.objects.count() == 2


def test_metrics_and_counts_keep_names_differing_only_in_case_apart(api_client):
    for name in ("Purchase", "Purchase", "purchase", "Pürchase"):
        post(api_client, email="ann@example.com", time=AT_NOON, eventName=name)

    metrics = api_client.get("/events/metrics").json()["metrics"]
    counts = {
        name: api_client.get("/events/count", {"metric": name, "date": DAY}).json()["count"]
        for name in ("Purchase", "purchase", "Pürchase", "PURCHASE")
    }

    assert [(m["name"], m["localCount"]) for m in metrics] == [
        ("Purchase", 2),
        ("Pürchase", 1),
        ("purchase", 1),
    ]
    assert counts == {"Purchase": 2, "purchase": 1, "Pürchase": 1, "PURCHASE": 0}


def test_a_profile_lists_metrics_differing_only_in_case_apart(api_client):
    for name in ("Purchase", "purchase"):
        post(api_client, email="ann@example.com", time=AT_NOON, eventName=name)

    response = api_client.get("/events/profiles/ann@example.com/metrics")

    assert response.status_code == 200
    assert {m["metric"]: m["count"] for m in response.json()["metrics"]} == {
        "Purchase": 1,
        "purchase": 1,
    }


def test_klaviyo_ids_of_metrics_differing_only_in_case_are_cached_apart():
    metric_ids_store(ids_by_name={"Purchase": "AbCdEf", "purchase": "XyZ123"})

    assert dict(Metric.objects.values_list("name", "klaviyo_id")) == {
        "Purchase": "AbCdEf",
        "purchase": "XyZ123",
    }
    assert metric_klaviyo_id(name="purchase") == "XyZ123"
    assert metric_klaviyo_id(name="PURCHASE") is None


def test_external_ids_differing_only_in_case_or_a_trailing_space_are_three_profiles(api_client):
    for external_id in ("ABC", "abc", "abc "):
        response = post(api_client, profileAttributes={"externalId": external_id})
        assert response.status_code == 201

    assert sorted(Profile.objects.values_list("identity", flat=True)) == [
        "external:ABC",
        "external:abc",
        "external:abc ",
    ]
    assert [p.events.count() for p in Profile.objects.all()] == [1, 1, 1]


def test_emails_are_one_profile_whatever_their_case_but_accents_make_another(api_client):
    for email in ("Ann@Example.com", "ann@example.com", "ann@exämple.com"):
        assert post(api_client, email=email).status_code == 201

    assert sorted(Profile.objects.values_list("email", flat=True)) == [
        "ann@example.com",
        "ann@exämple.com",
    ]
    assert Event.objects.filter(email="ann@example.com").count() == 2


def test_an_upsert_of_identities_differing_only_in_case_returns_each_its_own_profile():
    ids = profiles_upsert(
        changes=[(None, {"externalId": "ABC", "n": 1}), (None, {"externalId": "abc", "n": 2})]
    )

    assert ids["external:ABC"] != ids["external:abc"]
    assert Profile.objects.get(pk=ids["external:ABC"]).attributes == {"externalId": "ABC", "n": 1}
    assert Profile.objects.get(pk=ids["external:abc"]).attributes == {"externalId": "abc", "n": 2}


def test_a_300_character_identity_of_4_byte_characters_is_unique_over_its_whole_length():
    # Why mysql.W003 is silenced: the unique index takes all 1,200 bytes of a full identity
    # (MariaDB's limit is 3,072 with DYNAMIC rows), no prefix that would merge two of them.
    stem = "🙂" * 299
    for last in ("a", "b"):
        Profile.objects.create(identity=stem + last, attributes={})

    with pytest.raises(IntegrityError), transaction.atomic():
        Profile.objects.create(identity=stem + "b", attributes={})

    assert sorted(Profile.objects.values_list("identity", flat=True)) == [stem + "a", stem + "b"]
