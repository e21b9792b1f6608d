"""The ingest services below the HTTP layer: merge patches, identities, upserts, bulk ingest."""

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext

import events.services as services
from events.merge_patch import json_merge_patch, json_patches_combine, replaces
from events.models import Event, Profile
from events.services import (
    event_ingest,
    events_ingest_bulk,
    profile_identity,
    profiles_upsert,
)
from events.tests.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db


def item(email: str = "ann@example.com", **fields) -> dict:
    """A validated event, as the serializers hand it to the services."""
    return {
        "event_name": "Purchase",
        "email": email,
        "event_attributes": {},
        "profile_attributes": {},
        "time": None,
        "value": None,
        "unique_id": None,
        **fields,
    }


# --- pure functions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [  # RFC 7396, appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_json_merge_patch_follows_rfc_7396(target, patch, result):
    assert json_merge_patch(target, patch) == result


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"a": 1}, {"b": 2}),
        ({"a": 1, "b": 2}, {"b": None}),
        ({"a": None}, {"b": 1}),
        ({"d": {"x": 1, "y": None}}, {"d": {"y": 2, "z": None}}),
        ({"d": {"x": 1}}, {"d": 5}),
        ({"t": [1, 2]}, {"t": [3]}),
    ],
)
def test_combined_patches_do_what_the_two_do_in_turn(first, second):
    target = {"a": 0, "b": 0, "d": {"x": 0, "y": 0, "z": 0}, "t": []}

    combined = json_patches_combine(first, second)

    assert json_merge_patch(target, combined) == json_merge_patch(
        json_merge_patch(target, first), second
    )


def test_a_combined_patch_keeps_its_nulls():
    assert json_patches_combine({"a": 1}, {"a": None, "n": {"b": None}}) == {
        "a": None,
        "n": {"b": None},
    }


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"d": None}, {"d": {"y": 2}}),
        ({"d": 5}, {"d": {"y": 2, "z": None}}),
        ({"n": {"d": None}}, {"n": {"d": {"y": 2}}}),
    ],
)
def test_an_object_replacing_what_a_patch_removed_is_marked_as_replacing(first, second):
    """Applied at once, the folded patch would merge where the two replace: it says so."""
    target = {"d": {"x": 0}, "n": {"d": {"x": 0}}}

    combined = json_patches_combine(first, second)

    assert replaces(combined)
    assert json_merge_patch(target, combined) != json_merge_patch(
        json_merge_patch(target, first), second
    )
    assert replaces(json_patches_combine(combined, {"d": {"w": 1}, "n": {"e": 1}}))
    assert not replaces(json_patches_combine({"d": {"x": 1}}, {"d": {"y": None}, "e": None}))


@pytest.mark.parametrize(
    ("email", "attributes", "identity"),
    [
        ("ann@example.com", {"phoneNumber": "+15005550006", "externalId": "x"}, "ann@example.com"),
        (None, {"phoneNumber": "+15005550006", "externalId": "x"}, "phone:+15005550006"),
        (None, {"externalId": "x"}, "external:x"),
    ],
)
def test_a_profile_is_keyed_by_email_then_phone_then_external_id(email, attributes, identity):
    assert profile_identity(email=email, profile_attributes=attributes) == identity


# --- profiles_upsert ------------------------------------------------------------------------------


def test_profiles_upsert_returns_the_id_of_each_identity():
    ids = profiles_upsert(
        changes=[
            ("ann@example.com", {"a": 1}),
            (None, {"phoneNumber": "+15005550006"}),
            ("ann@example.com", {"b": 2}),
        ]
    )

    assert set(ids) == {"ann@example.com", "phone:+15005550006"}
    ann = Profile.objects.get(pk=ids["ann@example.com"])
    assert (ann.email, ann.attributes) == ("ann@example.com", {"a": 1, "b": 2})
    phone = Profile.objects.get(pk=ids["phone:+15005550006"])
    assert (phone.email, phone.phone_number) == (None, "+15005550006")


def test_a_single_profile_upsert_returns_the_id_of_the_row_it_updated():
    ann = profiles_upsert(changes=[("ann@example.com", {"a": 1})])
    bob = profiles_upsert(changes=[("bob@example.com", {})])

    again = profiles_upsert(changes=[("ann@example.com", {"b": 2})])

    assert again == ann != bob
    assert Profile.objects.get(pk=ann["ann@example.com"]).attributes == {"a": 1, "b": 2}


def test_a_single_profile_upsert_is_one_statement(django_assert_num_queries):
    profiles_upsert(changes=[("ann@example.com", {})])

    with django_assert_num_queries(1):
        profiles_upsert(changes=[("ann@example.com", {"a": 1})])


def test_profiles_upsert_of_nothing_does_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert profiles_upsert(changes=[]) == {}


def test_identities_differing_only_in_case_are_two_profiles():
    # Exact on MariaDB too (migration 0003), as on SQLite.
    first = profiles_upsert(changes=[(None, {"externalId": "ABC"})])
    second = profiles_upsert(changes=[(None, {"externalId": "abc"})])

    assert Profile.objects.get(pk=first["external:ABC"]).identity == "external:ABC"
    assert Profile.objects.get(pk=second["external:abc"]).identity == "external:abc"


# --- event_ingest ---------------------------------------------------------------------------------


def test_event_ingest_saves_through_save_so_post_save_fires():
    created_flags: list[bool] = []

    def receiver(sender, instance, created, **kwargs):
        created_flags.append(created)

    post_save.connect(receiver, sender=Event, dispatch_uid="test_ingest_post_save")
    try:
        result = event_ingest(data=item(time=datetime(2025, 9, 15, tzinfo=UTC)))
    finally:
        post_save.disconnect(dispatch_uid="test_ingest_post_save", sender=Event)

    assert result.created is True
    assert created_flags == [True]
    assert Event.objects.get().time == datetime(2025, 9, 15, tzinfo=UTC)


def ann_event(**fields) -> Event:
    """A stored Purchase of ann@example.com, the profile `item()` names."""
    profile = Profile.objects.filter(identity="ann@example.com").first() or ProfileFactory(
        email="ann@example.com"
    )
    return EventFactory(profile=profile, **fields)


def test_event_ingest_returns_the_earlier_event_for_a_known_unique_id():
    earlier = ann_event(unique_id="k1")

    result = event_ingest(data=item(unique_id="k1", profile_attributes={"plan": "pro"}))

    assert (result.created, result.event.pk) == (False, earlier.pk)
    assert Event.objects.count() == 1
    assert Profile.objects.get().attributes == {}  # a repeat changes nothing


def test_event_ingest_stores_a_known_unique_id_of_another_metric_or_profile():
    placed = ann_event(unique_id="order-1001", event_name="Placed Order")

    fulfilled = event_ingest(data=item(unique_id="order-1001", event_name="Fulfilled Order"))
    other = event_ingest(
        data=item("bob@example.com", unique_id="order-1001", event_name="Placed Order")
    )

    assert fulfilled.created and other.created
    assert fulfilled.event.pk != placed.pk and other.event.pk != placed.pk
    assert sorted(Event.objects.values_list("event_name", "email")) == [
        ("Fulfilled Order", "ann@example.com"),
        ("Placed Order", "ann@example.com"),
        ("Placed Order", "bob@example.com"),
    ]


def test_a_repeat_is_looked_up_only_once_its_insert_is_refused(monkeypatch):
    # Whether stored long ago or by a concurrent request a moment before, the unique index
    # refuses the insert, and only then is the first event read, once.
    earlier = ann_event(unique_id="k1")
    real_lookup = services._events_by_key
    lookups: list[int] = []

    def counted_lookup(keys):
        lookups.append(1)
        return real_lookup(keys)

    monkeypatch.setattr(services, "_events_by_key", counted_lookup)

    result = event_ingest(data=item(unique_id="k1", profile_attributes={"a": 1}))

    assert (result.created, result.event.pk) == (False, earlier.pk)
    assert len(lookups) == 1
    assert Event.objects.count() == 1
    # The upsert that ran before the INSERT was refused is rolled back with it.
    assert Profile.objects.get().attributes == {}


def test_event_ingest_writes_the_profile_and_the_event_and_reads_nothing():
    event_ingest(data=item(unique_id="k0"))

    with CaptureQueriesContext(connection) as context:
        event_ingest(data=item(unique_id="k1", profile_attributes={"a": 1}))

    # (Django logs an executemany as "<n> times: <sql>".)
    statements = [
        re.sub(r"^\d+ times: ", "", query["sql"]).split()[0] for query in context.captured_queries
    ]
    # (The savepoints are the test's: its transaction wraps the ingest's.)
    assert [kind for kind in statements if kind not in ("SAVEPOINT", "RELEASE")] == ["INSERT"] * 2


# --- events_ingest_bulk ---------------------------------------------------------------------------


def test_bulk_ingest_sends_post_save_for_each_row_it_inserts_inside_the_transaction():
    ann_event(unique_id="old")
    announced: list[tuple] = []

    def receiver(sender, instance, created, **kwargs):
        announced.append((instance.id, created, kwargs["raw"], connection.in_atomic_block))

    post_save.connect(receiver, sender=Event, dispatch_uid="test_bulk_announce")
    try:
        results = events_ingest_bulk(
            items=[item(unique_id="old"), item(unique_id="new"), item(), item(unique_id="new")]
        )
    finally:
        post_save.disconnect(sender=Event, dispatch_uid="test_bulk_announce")

    new_ids = [r.event.id for r in results if r.created]
    assert len(new_ids) == 2
    assert sorted(announced) == sorted((pk, True, False, True) for pk in new_ids)
    assert set(Event.objects.values_list("pk", flat=True)) >= set(new_ids)


def test_bulk_ingest_returns_saved_instances():
    [result] = events_ingest_bulk(items=[item()])

    result.event.last_error = "edited"
    result.event.save()

    assert Event.objects.get().last_error == "edited"


def test_a_unique_id_stored_concurrently_during_a_bulk_ingest_makes_no_second_row(monkeypatch):
    # Another request stores "k1" after this one looked for earlier keys and before its insert.
    real_upsert = services.profiles_upsert
    concurrent: list[Event] = []

    def upsert_after_a_concurrent_insert(*, changes):
        concurrent.append(ann_event(unique_id="k1"))
        return real_upsert(changes=changes)

    monkeypatch.setattr(services, "profiles_upsert", upsert_after_a_concurrent_insert)
    announced: list = []
    post_save.connect(
        lambda sender, instance, **kw: announced.append(instance.id),
        sender=Event,
        dispatch_uid="t_race",
        weak=False,
    )
    try:
        results = events_ingest_bulk(items=[item(unique_id="k1"), item(unique_id="k2")])
    finally:
        post_save.disconnect(sender=Event, dispatch_uid="t_race")

    assert (results[0].created, results[0].event.pk) == (False, concurrent[0].pk)
    assert results[1].created is True
    # The concurrent request's own save announced its row; the bulk insert only the one it made.
    assert announced == [concurrent[0].id, results[1].event.id]
    assert Event.objects.filter(unique_id="k1").count() == 1
    assert Event.objects.count() == 2


def test_bulk_ingest_of_only_known_keys_inserts_nothing(django_assert_max_num_queries):
    earlier = ann_event(unique_id="k1")

    with django_assert_max_num_queries(3):
        results = events_ingest_bulk(items=[item(unique_id="k1"), item(unique_id="k1")])

    assert [(r.created, r.event.pk) for r in results] == [(False, earlier.pk)] * 2
    assert Event.objects.count() == 1


def test_bulk_ingest_keys_repeats_by_profile_metric_and_unique_id():
    placed = ann_event(unique_id="order-1", event_name="Placed Order")

    results = events_ingest_bulk(
        items=[
            item(unique_id="order-1", event_name="Placed Order"),  # stored before
            item(unique_id="order-1", event_name="Fulfilled Order"),
            item("bob@example.com", unique_id="order-1", event_name="Placed Order"),
            item(unique_id="order-1", event_name="Fulfilled Order"),  # repeats item 1
        ]
    )

    assert [r.created for r in results] == [False, True, True, False]
    assert results[0].event.pk == placed.pk
    assert results[3].event.pk == results[1].event.pk
    assert Event.objects.filter(unique_id="order-1").count() == 3


def test_bulk_ingest_orders_a_batch_by_created_at_as_sent():
    results = events_ingest_bulk(items=[item(unique_id=f"k{i}") for i in (3, 1, 2)])

    stored = Event.objects.order_by("created_at").values_list("unique_id", flat=True)
    assert list(stored) == ["k3", "k1", "k2"]
    assert [r.event.unique_id for r in results] == ["k3", "k1", "k2"]
