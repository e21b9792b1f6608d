"""POST /api/data-privacy-deletion-jobs: the profile the identifier names and its events
disappear from every read; the job is logged for the control API."""

import pytest

from klaviyo_emulator.tests.conftest import bulk_body, bulk_event, event_body
from klaviyo_emulator.tests.test_reads import aggregate_body, metric_id

JOBS = "/api/data-privacy-deletion-jobs/"


def deletion_body(**identifier):
    profile = {"type": "profile", "attributes": {}}
    if "id" in identifier:
        profile["id"] = identifier.pop("id")
    profile["attributes"].update(identifier)
    return {
        "data": {
            "type": "data-privacy-deletion-job",
            "attributes": {"profile": {"data": profile}},
        }
    }


@pytest.fixture
def two_people(klaviyo):
    body = bulk_body(
        [
            (
                {"email": "a@example.com", "phone_number": "+15005550006"},
                [
                    bulk_event("a1", time="2026-11-01T10:00:00+00:00"),
                    bulk_event("a2", time="2026-11-02T10:00:00+00:00"),
                ],
            ),
            ({"email": "b@example.com"}, [bulk_event("b1", time="2026-11-02T11:00:00+00:00")]),
        ]
    )
    assert klaviyo.post("/api/event-bulk-create-jobs", body).status_code == 202
    return klaviyo.app.store


def test_a_deletion_by_email_removes_the_profile_and_its_events_from_every_read(
    klaviyo, two_people
):
    placed = metric_id(two_people, "Placed Order")

    response = klaviyo.post(JOBS, deletion_body(email="A@example.com"))

    assert response.status_code == 202
    assert response.data == b""
    assert klaviyo.response_matches_spec(response)
    profiles = klaviyo.get(
        "/api/profiles/", query_string={"filter": 'equals(email,"a@example.com")'}
    )
    assert profiles.json["data"] == []
    events = klaviyo.get("/api/events/")
    assert [e["attributes"]["event_properties"]["$event_id"] for e in events.json["data"]] == ["b1"]
    aggregate = klaviyo.post("/api/metric-aggregates", aggregate_body(placed))
    assert aggregate.json["data"]["attributes"]["data"][0]["measurements"]["count"] == [0, 1, 0]
    [job] = two_people.deletion_jobs
    assert job.identifier == {"email": "A@example.com"}
    assert (len(job.profiles_deleted), job.events_deleted) == (1, 2)
    assert len(two_people.profiles) == 1


def test_a_deletion_by_phone_number_or_id_removes_that_profile(klaviyo, two_people):
    b_id = next(
        p.id for p in two_people.profiles.values() if p.attributes["email"] == "b@example.com"
    )
    assert klaviyo.post(JOBS, deletion_body(phone_number="+15005550006")).status_code == 202
    assert klaviyo.post(JOBS, deletion_body(id=b_id)).status_code == 202

    assert two_people.profiles == {}
    assert two_people.events == []
    assert [job.events_deleted for job in two_people.deletion_jobs] == [2, 1]


def test_an_unknown_identifier_is_accepted_and_deletes_nothing(klaviyo, two_people):
    assert klaviyo.post(JOBS, deletion_body(email="nobody@example.com")).status_code == 202

    assert len(two_people.profiles) == 2
    assert two_people.deletion_jobs[0].profiles_deleted == []


def test_it_refuses_two_identifiers_or_none(klaviyo, two_people):
    both = klaviyo.post(JOBS, deletion_body(email="a@example.com", phone_number="+15005550006"))
    none = klaviyo.post(JOBS, deletion_body())

    assert (both.status_code, none.status_code) == (400, 400)
    assert klaviyo.response_matches_spec(both)
    assert len(two_people.profiles) == 2
    assert two_people.deletion_jobs == []


def test_it_refuses_a_body_the_spec_refuses(klaviyo):
    body = deletion_body(email="a@example.com")
    del body["data"]["type"]

    assert klaviyo.post(JOBS, body).status_code == 400


def test_an_event_after_the_deletion_makes_a_new_profile(klaviyo, two_people):
    klaviyo.post(JOBS, deletion_body(email="a@example.com"))

    assert klaviyo.post("/api/events/", event_body(email="a@example.com")).status_code == 202

    [event] = [e for e in two_people.events if e.unique_id == "order-1"]
    assert two_people.profiles[event.profile_id].attributes == {"email": "a@example.com"}


def test_the_control_api_lists_the_deletion_jobs_in_order(klaviyo, two_people):
    klaviyo.post(JOBS, deletion_body(email="a@example.com"))
    klaviyo.post(JOBS, deletion_body(phone_number="+15005550099"))

    listed = klaviyo.client.get("/_emulator/deletion-jobs").json["deletion_jobs"]
    state = klaviyo.client.get("/_emulator/state").json

    assert [job["identifier"] for job in listed] == [
        {"email": "a@example.com"},
        {"phone_number": "+15005550099"},
    ]
    assert [(len(j["profiles_deleted"]), j["events_deleted"]) for j in listed] == [(1, 2), (0, 0)]
    assert listed[0]["events_received_before"] == 3
    assert state["deletion_jobs"] == 2
