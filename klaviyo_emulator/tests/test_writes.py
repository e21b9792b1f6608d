"""The emulator's write endpoints: what they store, how they dedupe, what they refuse."""

from datetime import UTC, datetime, timedelta

import pytest

from klaviyo_emulator.tests.conftest import bulk_body, bulk_event, event_body, pointers

BULK = "/api/event-bulk-create-jobs/"


def test_it_accepts_an_event_with_an_empty_202_and_stores_its_fields(klaviyo):
    body = event_body(
        properties={"OrderId": "1", "Items": ["book"]},
        profile={
            "email": "sarah@example.com",
            "first_name": "Sarah",
            "properties": {"plan": "pro"},
        },
    )
    body["data"]["attributes"]["value_currency"] = "USD"

    response = klaviyo.post("/api/events/", body)

    assert response.status_code == 202
    assert response.data == b""
    [event] = klaviyo.app.store.events
    assert event.metric_name == "Placed Order"
    assert event.properties == {"OrderId": "1", "Items": ["book"]}
    assert event.time == datetime(2026, 11, 1, 12, tzinfo=UTC)
    assert (event.value, event.value_currency, event.unique_id) == (9.99, "USD", "order-1")
    assert event.profile_sent == {
        "email": "sarah@example.com",
        "first_name": "Sarah",
        "properties": {"plan": "pro"},
    }
    profile = klaviyo.app.store.profiles[event.profile_id]
    assert profile.attributes["first_name"] == "Sarah"
    assert len(profile.id) == 26 and len(event.metric_id) == 6


def test_it_keeps_a_repeated_unique_id_once_but_counts_every_copy(klaviyo):
    for _ in range(3):
        assert klaviyo.post("/api/events", event_body(unique_id="order-7")).status_code == 202

    store = klaviyo.app.store
    assert [e.unique_id for e in store.events] == ["order-7"]
    assert store.received_by_unique_id["order-7"] == 3
    counters = store.counters()
    assert (counters["events_received"], counters["duplicates"]) == (3, 2)
    assert counters["redundant_sends"] == 2


def test_it_keeps_the_same_unique_id_for_another_metric_or_profile(klaviyo):
    klaviyo.post("/api/events", event_body(unique_id="x", name="Placed Order"))
    klaviyo.post("/api/events", event_body(unique_id="x", name="Viewed Product"))
    klaviyo.post("/api/events", event_body(unique_id="x", email="other@example.com"))

    assert len(klaviyo.app.store.events) == 3


def test_without_unique_id_it_keeps_one_event_per_profile_metric_and_second(klaviyo):
    klaviyo.post("/api/events", event_body(unique_id=None, time="2026-11-01T12:00:00.100+00:00"))
    klaviyo.post("/api/events", event_body(unique_id=None, time="2026-11-01T12:00:00.900+00:00"))
    klaviyo.post("/api/events", event_body(unique_id=None, time="2026-11-01T12:00:01+00:00"))

    assert len(klaviyo.app.store.events) == 2


def test_it_rejects_a_body_the_spec_rejects_with_a_pointer(klaviyo):
    body = event_body()
    body["data"]["attributes"]["time"] = 12

    response = klaviyo.post("/api/events", body)

    assert response.status_code == 400
    [error] = response.json["errors"]
    assert error["source"]["pointer"] == "/data/attributes/time"
    assert {"id", "status", "code", "title", "detail"} <= set(error)
    assert klaviyo.app.store.events == []


def test_it_rejects_an_event_missing_its_metric(klaviyo):
    body = event_body()
    del body["data"]["attributes"]["metric"]

    response = klaviyo.post("/api/events", body)

    assert response.status_code == 400
    assert klaviyo.app.store.events == []


def test_it_rejects_a_profile_without_an_identifier(klaviyo):
    response = klaviyo.post("/api/events", event_body(profile={"first_name": "Nobody"}))

    assert response.status_code == 400
    assert pointers(response) == ["/data/attributes/profile/data/attributes"]
    assert "identifier" in response.json["errors"][0]["detail"]


@pytest.mark.parametrize("phone", ["555-0100", "+15005550006\n", "+1500555000\u0666"])
def test_it_rejects_a_phone_number_that_is_not_e164(klaviyo, phone):
    response = klaviyo.post("/api/events", event_body(profile={"phone_number": phone}))

    assert response.status_code == 400
    assert pointers(response) == ["/data/attributes/profile/data/attributes/phone_number"]


def test_it_accepts_an_e164_phone_number_as_the_only_identifier(klaviyo):
    response = klaviyo.post("/api/events", event_body(profile={"phone_number": "+15005550006"}))

    assert response.status_code == 202


@pytest.mark.parametrize("email", ["not-an-email", "ann@example.com\n"])
def test_it_rejects_an_invalid_email(klaviyo, email):
    response = klaviyo.post("/api/events", event_body(email=email))

    assert response.status_code == 400
    assert pointers(response) == ["/data/attributes/profile/data/attributes/email"]


def test_it_rejects_event_times_before_2000_or_over_a_year_ahead(klaviyo):
    too_late = (datetime.now(UTC) + timedelta(days=400)).isoformat()
    for time in ("1999-12-31T23:59:59+00:00", too_late):
        response = klaviyo.post("/api/events", event_body(time=time))
        assert response.status_code == 400
        assert pointers(response) == ["/data/attributes/time"]
    assert klaviyo.app.store.events == []


def test_it_rejects_a_metric_name_of_128_characters(klaviyo):
    response = klaviyo.post("/api/events", event_body(name="m" * 128))

    assert response.status_code == 400
    assert pointers(response) == ["/data/attributes/metric/data/attributes/name"]


def test_it_rejects_more_than_400_properties(klaviyo):
    properties = {f"p{i}": i for i in range(401)}

    response = klaviyo.post("/api/events", event_body(properties=properties))

    assert response.status_code == 400


def test_it_rejects_properties_nested_deeper_than_ten_levels(klaviyo):
    nested: dict = {"leaf": 1}
    for _ in range(11):
        nested = {"down": nested}

    response = klaviyo.post("/api/events", event_body(properties={"deep": nested}))

    assert response.status_code == 400
    assert "nested" in response.json["errors"][0]["detail"]


def test_a_bulk_job_stores_every_event_of_every_profile(klaviyo):
    body = bulk_body(
        [
            ({"email": "a@example.com"}, [bulk_event("a1"), bulk_event("a2", name="Viewed")]),
            ({"external_id": "user-9"}, [bulk_event("b1")]),
        ]
    )

    response = klaviyo.post(BULK, body)

    assert response.status_code == 202
    assert response.data == b""
    store = klaviyo.app.store
    assert sorted(e.unique_id for e in store.events) == ["a1", "a2", "b1"]
    assert len(store.profiles) == 2
    assert sorted(m.name for m in store.metrics.values()) == ["Placed Order", "Viewed"]


def test_a_bulk_job_repeating_a_unique_id_fails_whole(klaviyo):
    body = bulk_body([({"email": "a@example.com"}, [bulk_event("a1"), bulk_event("a1")])])
    body_other = bulk_body([({"email": "b@example.com"}, [bulk_event("b1")])])
    body["data"]["attributes"]["events-bulk-create"]["data"] += body_other["data"]["attributes"][
        "events-bulk-create"
    ]["data"]

    response = klaviyo.post(BULK, body)

    assert response.status_code == 400
    assert pointers(response) == [
        "/data/attributes/events-bulk-create/data/0/attributes/events/data/1/attributes/unique_id"
    ]
    assert klaviyo.app.store.events == []


def test_a_bulk_job_points_at_each_rejected_item_and_stores_none(klaviyo):
    klaviyo.app.faults.configure({"reject_email": "bad@example.com"})
    body = bulk_body(
        [
            ({"email": "good@example.com"}, [bulk_event("g1")]),
            ({"email": "BAD@example.com"}, [bulk_event("b1")]),
            ({"email": "good2@example.com"}, [bulk_event("g2", time="1990-01-01T00:00:00Z")]),
        ]
    )

    response = klaviyo.post(BULK, body)

    assert response.status_code == 400
    assert pointers(response) == [
        "/data/attributes/events-bulk-create/data/1/attributes/profile/data/attributes/email",
        "/data/attributes/events-bulk-create/data/2/attributes/events/data/0/attributes/time",
    ]
    assert klaviyo.app.store.events == []


def test_a_bulk_job_over_1000_events_is_refused(klaviyo):
    events = [bulk_event(f"e{i}") for i in range(1001)]

    response = klaviyo.post(BULK, bulk_body([({"email": "a@example.com"}, events)]))

    assert response.status_code == 400
    assert "1000" in response.json["errors"][0]["detail"]
    assert klaviyo.app.store.events == []


def test_profile_import_creates_then_updates_and_null_clears(klaviyo):
    def profile_import(attributes):
        return klaviyo.post(
            "/api/profile-import", {"data": {"type": "profile", "attributes": attributes}}
        )

    created = profile_import(
        {
            "email": "p@example.com",
            "first_name": "Pat",
            "location": {"city": "Oslo"},
            "properties": {"plan": "pro", "seats": 3},
        }
    )
    updated = profile_import(
        {"email": "p@example.com", "first_name": None, "properties": {"seats": None, "tier": 2}}
    )

    assert (created.status_code, updated.status_code) == (201, 200)
    assert klaviyo.response_matches_spec(created)
    assert klaviyo.response_matches_spec(updated)
    assert created.json["data"]["id"] == updated.json["data"]["id"]
    attributes = updated.json["data"]["attributes"]
    assert attributes["first_name"] is None
    assert attributes["location"]["city"] == "Oslo"
    # A custom property sent as null is kept, as null: only meta.patch_properties.unset removes.
    assert attributes["properties"] == {"plan": "pro", "seats": None, "tier": 2}


def test_profile_import_finds_a_profile_by_email_whatever_its_case(klaviyo):
    body = {"data": {"type": "profile", "attributes": {"email": "Case@Example.com"}}}
    first = klaviyo.post("/api/profile-import", body)
    body["data"]["attributes"]["email"] = "case@example.com"
    second = klaviyo.post("/api/profile-import", body)

    assert (first.status_code, second.status_code) == (201, 200)
    assert len(klaviyo.app.store.profiles) == 1


def test_profile_import_with_an_unknown_id_is_404(klaviyo):
    body = {"data": {"type": "profile", "id": "01ABC", "attributes": {"first_name": "X"}}}

    assert klaviyo.post("/api/profile-import", body).status_code == 404


def test_profile_bulk_import_imports_valid_rows_and_lists_the_others_as_errors(klaviyo):
    rows = [{"email": "ok@example.com"}, {"first_name": "no identifier"}]
    body = {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {
                "profiles": {"data": [{"type": "profile", "attributes": row} for row in rows]}
            },
        }
    }

    created = klaviyo.post("/api/profile-bulk-import-jobs", body)
    job_id = created.json["data"]["id"]
    job = klaviyo.get(f"/api/profile-bulk-import-jobs/{job_id}/")
    errors = klaviyo.get(f"/api/profile-bulk-import-jobs/{job_id}/import-errors/")

    assert created.status_code == 202
    for response in (created, job, errors):
        assert klaviyo.response_matches_spec(response)
    assert job.json["data"]["attributes"]["completed_count"] == 1
    assert job.json["data"]["attributes"]["failed_count"] == 1
    [error] = errors.json["data"]
    assert error["attributes"]["original_payload"] == {"first_name": "no identifier"}
    assert len(klaviyo.app.store.profiles) == 1
    assert klaviyo.get("/api/profile-bulk-import-jobs/nope/").status_code == 404


def test_a_profile_bulk_import_job_is_answered_queued_and_runs_after_its_answer(klaviyo):
    rows = [{"email": f"p{i}@example.com"} for i in range(50)]
    body = {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {
                "profiles": {"data": [{"type": "profile", "attributes": row} for row in rows]}
            },
        }
    }

    created = klaviyo.post("/api/profile-bulk-import-jobs", body)
    job_id = created.json["data"]["id"]
    reads = [klaviyo.get(f"/api/profile-bulk-import-jobs/{job_id}/") for _ in range(3)]

    assert created.status_code == 202
    assert created.json["data"]["attributes"]["status"] == "queued"
    assert created.json["data"]["attributes"]["completed_count"] == 0
    states = [read.json["data"]["attributes"]["status"] for read in reads]
    assert states == ["processing", "complete", "complete"]
    assert {read.json["data"]["attributes"]["completed_count"] for read in reads} == {50}
    assert len(klaviyo.app.store.profiles) == 50
