"""The emulator keeps data as Klaviyo does and refuses what Klaviyo refuses: unknown attribute
names, revisions it does not serve, identifiers of two profiles (409 duplicate_profile); null
clears and meta.patch_properties.unset removes, where the revision puts `meta`; any status can
be injected; reads may lag behind writes."""

import time
from datetime import date

import pytest

from klaviyo_emulator.revisions import revision_problem
from klaviyo_emulator.tests.conftest import bulk_body, bulk_event, event_body, pointers

BULK = "/api/event-bulk-create-jobs/"


def profile_import(klaviyo, attributes, **data):
    body = {"data": {"type": "profile", "attributes": attributes, **data}}
    return klaviyo.post("/api/profile-import", body)


def stored_profile(klaviyo, email: str) -> dict:
    [profile] = [
        p for p in klaviyo.app.store.profiles.values() if p.attributes.get("email") == email
    ]
    return profile.attributes


# --- unknown attribute names ----------------------------------------------------------------


def test_it_refuses_a_camel_case_profile_attribute_with_klaviyos_message(klaviyo):
    body = event_body(profile={"email": "ann@example.com", "lastName": "Lee"})

    response = klaviyo.post("/api/events", body)

    assert response.status_code == 400
    [error] = response.json["errors"]
    assert error["detail"] == "'lastName' is not a valid field for the resource 'profile'."
    assert error["source"]["pointer"] == "/data/attributes/profile/data/attributes/lastName"
    assert klaviyo.app.store.events == [] and klaviyo.app.store.profiles == {}


def test_it_refuses_a_misspelt_event_attribute_and_an_unknown_location_key(klaviyo):
    body = event_body(profile={"email": "ann@example.com", "location": {"town": "Oslo"}})
    body["data"]["attributes"]["value_curency"] = "USD"

    response = klaviyo.post("/api/events", body)

    assert response.status_code == 400
    assert sorted(e["detail"] for e in response.json["errors"]) == [
        "'town' is not a valid field for the resource 'location'.",
        "'value_curency' is not a valid field for the resource 'event'.",
    ]


def test_it_refuses_unknown_names_in_bulk_requests_and_profile_imports(klaviyo):
    event = {**bulk_event("a"), "uniqueId": "a"}
    bulk = klaviyo.post(BULK, bulk_body([({"email": "a@example.com"}, [event])]))
    imported = profile_import(klaviyo, {"email": "a@example.com", "firstName": "A"})

    assert (bulk.status_code, imported.status_code) == (400, 400)
    assert pointers(bulk) == [
        "/data/attributes/events-bulk-create/data/0/attributes/events/data/0/attributes/uniqueId"
    ]
    assert imported.json["errors"][0]["detail"] == (
        "'firstName' is not a valid field for the resource 'profile'."
    )
    assert klaviyo.app.store.events == [] and klaviyo.app.store.profiles == {}


def test_profile_import_takes_no_anonymous_id_but_an_events_profile_does(klaviyo):
    imported = profile_import(klaviyo, {"email": "a@example.com", "anonymous_id": "v1"})
    event = klaviyo.post("/api/events", event_body(profile={"anonymous_id": "v1"}))

    assert imported.status_code == 400
    assert event.status_code == 202


# --- repeated unique_ids ----------------------------------------------------------------------


def test_it_records_the_first_of_repeated_unique_ids_per_profile_and_metric(klaviyo):
    for value in (1.0, 2.0, 3.0):
        klaviyo.post("/api/events", event_body(unique_id="order-1", value=value))
    klaviyo.post("/api/events", event_body(unique_id="order-1", name="Fulfilled Order"))

    store = klaviyo.app.store
    assert [(e.metric_name, e.value) for e in store.events] == [
        ("Placed Order", 1.0),
        ("Fulfilled Order", 9.99),
    ]
    assert sorted(event["received"] for event in store.received_events()) == [1, 3]
    assert store.counters()["redundant_sends"] == 2


# --- null clears, unset removes ----------------------------------------------------------------


def test_null_clears_a_standard_attribute_and_a_location_key(klaviyo):
    profile_import(
        klaviyo,
        {"email": "a@example.com", "first_name": "Ann", "location": {"city": "Oslo", "zip": "1"}},
    )

    profile_import(
        klaviyo, {"email": "a@example.com", "first_name": None, "location": {"city": None}}
    )

    attributes = stored_profile(klaviyo, "a@example.com")
    assert "first_name" not in attributes
    assert attributes["location"] == {"zip": "1"}


def test_unset_removes_custom_properties_on_profile_import(klaviyo):
    profile_import(klaviyo, {"email": "a@example.com", "properties": {"plan": "pro", "n": 1}})

    response = profile_import(
        klaviyo,
        {"email": "a@example.com"},
        meta={"patch_properties": {"unset": ["plan"]}},
    )

    assert response.status_code == 200
    assert response.json["data"]["attributes"]["properties"] == {"n": 1}


def test_an_events_profile_unsets_inside_its_attributes_in_revision_2026_07_15(klaviyo):
    profile_import(klaviyo, {"email": "a@example.com", "properties": {"plan": "pro", "n": 1}})
    body = event_body(
        profile={"email": "a@example.com", "meta": {"patch_properties": {"unset": "plan"}}}
    )

    response = klaviyo.post("/api/events", body)

    assert response.status_code == 202
    assert stored_profile(klaviyo, "a@example.com")["properties"] == {"n": 1}


def test_an_events_profile_unsets_beside_its_attributes_from_revision_2026_10_15(klaviyo):
    profile_import(klaviyo, {"email": "a@example.com", "properties": {"plan": "pro", "n": 1}})
    beside = event_body(profile={"email": "a@example.com"})
    beside["data"]["attributes"]["profile"]["data"]["meta"] = {
        "patch_properties": {"unset": ["plan"]}
    }
    inside = event_body(profile={"email": "a@example.com", "meta": {}})

    accepted = klaviyo.post("/api/events", beside, headers={"revision": "2026-10-15"})
    refused = klaviyo.post("/api/events", inside, headers={"revision": "2026-10-15"})
    refused_old = klaviyo.post("/api/events", beside)  # 2026-07-15: meta goes inside

    assert accepted.status_code == 202
    assert stored_profile(klaviyo, "a@example.com")["properties"] == {"n": 1}
    assert refused.json["errors"][0]["detail"] == (
        "'meta' is not a valid field for the resource 'profile'."
    )
    assert (refused.status_code, refused_old.status_code) == (400, 400)


def test_a_bulk_entrys_profile_unsets_beside_its_attributes(klaviyo):
    profile_import(klaviyo, {"email": "a@example.com", "properties": {"plan": "pro", "n": 1}})
    body = bulk_body([({"email": "a@example.com"}, [bulk_event("e1")])])
    entry = body["data"]["attributes"]["events-bulk-create"]["data"][0]
    entry["attributes"]["profile"]["data"]["meta"] = {"patch_properties": {"unset": ["plan"]}}

    assert klaviyo.post(BULK, body).status_code == 202
    assert stored_profile(klaviyo, "a@example.com")["properties"] == {"n": 1}


# --- revisions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("revision", ["2099-01-01", "2026-07-16", "2023-10-15", "2024-10-15"])
def test_it_refuses_a_revision_klaviyo_does_not_serve(klaviyo, revision):
    response = klaviyo.get("/api/metrics", headers={"revision": revision})

    assert response.status_code == 400
    [error] = response.json["errors"]
    assert error["source"] == {"parameter": "revision"}
    assert f"Revision '{revision}' is not served" in error["detail"]


@pytest.mark.parametrize("revision", ["2026-07-15", "2026-10-15", "2026-07-15.pre", "2025-01-15"])
def test_it_serves_the_revisions_klaviyo_supports(klaviyo, revision):
    assert klaviyo.get("/api/metrics", headers={"revision": revision}).status_code == 200


def test_a_revision_is_retired_two_years_after_its_release():
    assert revision_problem("2025-01-15", today=date(2027, 1, 14)) is None
    assert revision_problem("2025-01-15", today=date(2027, 1, 15)) is not None
    assert revision_problem("2026-10-15", today=date(2026, 10, 14)) is not None  # not out yet


# --- 409 duplicate_profile ----------------------------------------------------------------------


def test_identifiers_naming_two_profiles_answer_409_with_the_duplicate_profile_id(klaviyo):
    ann = profile_import(klaviyo, {"email": "ann@example.com"}).json["data"]["id"]
    profile_import(klaviyo, {"external_id": "crm-7", "first_name": "Bo"})

    response = profile_import(
        klaviyo, {"email": "ann@example.com", "external_id": "crm-7", "first_name": "Ann"}
    )

    assert response.status_code == 409
    [error] = response.json["errors"]
    assert error["code"] == "duplicate_profile"
    assert error["meta"] == {"duplicate_profile_id": ann}
    assert len(klaviyo.app.store.profiles) == 2
    assert "first_name" not in stored_profile(klaviyo, "ann@example.com")


def test_a_profile_is_updated_by_id_with_patch(klaviyo):
    ann = profile_import(klaviyo, {"email": "ann@example.com"}).json["data"]["id"]
    body = {
        "data": {
            "type": "profile",
            "id": ann,
            "attributes": {"first_name": "Ann", "properties": {"plan": "pro"}},
        }
    }

    response = klaviyo.patch(f"/api/profiles/{ann}/", body)
    mismatch = klaviyo.patch("/api/profiles/OTHER/", body)

    assert response.status_code == 200
    assert klaviyo.response_matches_spec(response)
    assert response.json["data"]["attributes"]["first_name"] == "Ann"
    assert mismatch.status_code == 400


def test_a_patch_that_takes_another_profiles_identifier_is_409(klaviyo):
    ann = profile_import(klaviyo, {"email": "ann@example.com"}).json["data"]["id"]
    bo = profile_import(klaviyo, {"external_id": "crm-7"}).json["data"]["id"]
    body = {"data": {"type": "profile", "id": ann, "attributes": {"external_id": "crm-7"}}}

    response = klaviyo.patch(f"/api/profiles/{ann}", body)

    assert response.status_code == 409
    assert response.json["errors"][0]["meta"] == {"duplicate_profile_id": bo}


# --- faults and read lag -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"), [(403, "permission_denied"), (409, "conflict"), (410, "gone")]
)
def test_any_error_status_can_be_injected(klaviyo, status, code):
    klaviyo.app.faults.configure({"status": status, "count": 1})

    first = klaviyo.post("/api/events", event_body())
    second = klaviyo.post("/api/events", event_body())

    assert (first.status_code, second.status_code) == (status, 202)
    assert first.json["errors"][0]["code"] == code


@pytest.mark.parametrize("status", [200, 302, 600, True])
def test_only_error_statuses_can_be_injected(klaviyo, status):
    with pytest.raises(ValueError, match="400 to 599"):
        klaviyo.app.faults.configure({"status": status})


def test_writes_show_in_reads_only_after_the_read_lag(klaviyo):
    klaviyo.app.faults.configure({"read_lag_ms": 300})
    klaviyo.post("/api/events", event_body())

    soon = klaviyo.get("/api/events")
    profiles_soon = klaviyo.get("/api/profiles")
    time.sleep(0.35)
    later = klaviyo.get("/api/events")

    assert (soon.json["data"], profiles_soon.json["data"]) == ([], [])
    assert len(later.json["data"]) == 1
