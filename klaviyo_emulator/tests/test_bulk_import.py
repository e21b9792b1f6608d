"""A profile bulk import job keeps and refuses, row by row, what profile-import does one by one
(the job's import path is optimised apart from it); profile ids are ULIDs."""

import time

from klaviyo_emulator import EmulatorApp, EmulatorConfig, ids
from klaviyo_emulator.tests.conftest import KlaviyoTestClient

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EXISTING = [
    {"email": "ann@example.com", "first_name": "Ann", "location": {"city": "Oslo", "zip": "0150"}},
    {"phone_number": "+15005550006", "properties": {"plan": "free", "tags": ["a"]}},
]
ROWS = [
    ({"email": "new@example.com", "first_name": "New", "properties": {"score": 3}}, None),
    # Existing profiles: a merge, a null clearing a standard field and a location key.
    ({"email": "ANN@example.com", "last_name": "Lee", "location": {"zip": None}}, None),
    ({"email": "ann@example.com", "first_name": None, "properties": {"vip": True}}, None),
    ({"phone_number": "+15005550006", "properties": {"plan": "pro"}}, {"unset": ["tags"]}),
    # Twice in one job: the second row updates what the first created.
    ({"external_id": "x-1", "title": "Dr"}, None),
    ({"external_id": "x-1", "email": "x1@example.com", "organization": "Acme"}, None),
    # Refused: two profiles named, no identifier, a malformed email and phone, unknown names.
    ({"email": "ann@example.com", "phone_number": "+15005550006"}, None),
    ({"first_name": "Nobody"}, None),
    ({"email": "not-an-email"}, None),
    ({"email": "bad-phone@example.com", "phone_number": "555"}, None),
    ({"email": "camel@example.com", "firstName": "Camel"}, None),
    ({"email": "where@example.com", "location": {"planet": "Mars"}}, None),
]


def _resource(attributes: dict, unset: dict | None) -> dict:
    resource = {"type": "profile", "attributes": attributes}
    if unset:
        resource["meta"] = {"patch_properties": unset}
    return resource


def _client() -> KlaviyoTestClient:
    klaviyo = KlaviyoTestClient(EmulatorApp(EmulatorConfig(rate_limits=False)))
    for attributes in EXISTING:
        assert (
            klaviyo.post("/api/profile-import", {"data": _resource(attributes, None)}).status_code
            == 201
        )
    return klaviyo


def _kept(klaviyo: KlaviyoTestClient) -> list[dict]:
    return sorted((profile.attributes for profile in klaviyo.app.store.profiles.values()), key=repr)


def test_a_bulk_import_keeps_and_refuses_what_profile_import_does_row_by_row() -> None:
    one_by_one, bulk = _client(), _client()
    answers = [
        one_by_one.post("/api/profile-import", {"data": _resource(attributes, unset)})
        for attributes, unset in ROWS
    ]
    profiles = [_resource(attributes, unset) for attributes, unset in ROWS]
    body = {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {"profiles": {"data": profiles}},
        }
    }

    job_id = bulk.post("/api/profile-bulk-import-jobs", body).json["data"]["id"]
    job = bulk.get(f"/api/profile-bulk-import-jobs/{job_id}/").json["data"]["attributes"]
    errors = bulk.get(
        f"/api/profile-bulk-import-jobs/{job_id}/import-errors/", query_string={"page[size]": 100}
    ).json["data"]

    refused = [index for index, answer in enumerate(answers) if answer.status_code >= 400]
    assert refused == [6, 7, 8, 9, 10, 11]
    assert (job["completed_count"], job["failed_count"]) == (6, 6)
    assert [e["attributes"]["original_payload"] for e in errors] == [ROWS[i][0] for i in refused]
    assert [(e["attributes"]["code"], e["attributes"]["detail"]) for e in errors] == [
        (answers[i].json["errors"][0]["code"], answers[i].json["errors"][0]["detail"])
        for i in refused
    ]
    assert _kept(bulk) == _kept(one_by_one)
    assert bulk.app.store._profile_index.keys() == one_by_one.app.store._profile_index.keys()
    ann = bulk.app.store.profile_find(attributes={"email": "ann@example.com"})
    assert ann.attributes == {
        "email": "ann@example.com",
        "last_name": "Lee",
        "location": {"city": "Oslo"},
        "properties": {"vip": True},
    }


def test_profile_ids_are_ulids_of_the_current_millisecond() -> None:
    before = int(time.time() * 1000)
    made = [ids.profile_id() for _ in range(5000)]
    after = int(time.time() * 1000)

    assert len(set(made)) == len(made)
    assert all(len(made_id) == 26 and set(made_id) <= set(CROCKFORD) for made_id in made)
    for made_id in (made[0], made[-1]):
        millisecond = 0
        for character in made_id[:10]:
            millisecond = millisecond * 32 + CROCKFORD.index(character)
        assert before <= millisecond <= after
