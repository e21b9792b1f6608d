"""Lists and their members, and profile reads that show consent: what each route answers,
keeps and refuses."""

import pytest

from klaviyo_emulator.consent_view import history_entries
from klaviyo_emulator.store import now_utc
from klaviyo_emulator.tests.consent_bodies import (
    channels,
    members_body,
    subscribe_body,
    suppression_body,
)

LISTS = "/api/lists"


def list_body(name: str, **attributes) -> dict:
    return {"data": {"type": "list", "attributes": {"name": name, **attributes}}}


def profile_with(klaviyo, email: str) -> str:
    profile, _ = klaviyo.app.store.profile_upsert(attributes={"email": email})
    return profile.id


@pytest.fixture
def newsletter(klaviyo):
    return klaviyo.app.store.lists.create(name="Newsletter", at=now_utc())


def test_it_creates_a_list_and_reads_it_back(klaviyo):
    created = klaviyo.post(LISTS, list_body("VIP", opt_in_process="double_opt_in"))

    assert created.status_code == 201
    assert klaviyo.response_matches_spec(created)
    list_id = created.json["data"]["id"]
    read = klaviyo.get(
        f"{LISTS}/{list_id}", query_string={"additional-fields[list]": "profile_count"}
    )
    assert klaviyo.response_matches_spec(read)
    attributes = read.json["data"]["attributes"]
    assert (attributes["name"], attributes["opt_in_process"]) == ("VIP", "double_opt_in")
    assert attributes["profile_count"] == 0
    assert klaviyo.get(f"{LISTS}/Nope12").status_code == 404


def test_it_refuses_a_list_without_a_name(klaviyo):
    assert klaviyo.post(LISTS, {"data": {"type": "list", "attributes": {}}}).status_code == 400
    assert klaviyo.post(LISTS, list_body("  ")).status_code == 400
    assert klaviyo.app.store.lists.lists == {}


def test_lists_page_by_ten_with_a_cursor_and_filter_by_name(klaviyo):
    for index in reversed(range(12)):  # more than create_list's 10 a second
        klaviyo.app.store.lists.create(name=f"List {index:02}", at=now_utc())

    first = klaviyo.get(LISTS, query_string={"sort": "name"})
    second = klaviyo.get(first.json["links"]["next"])
    named = klaviyo.get(LISTS, query_string={"filter": 'equals(name,"List 03")'})
    too_big = klaviyo.get(LISTS, query_string={"page[size]": "11"})

    assert klaviyo.response_matches_spec(first)
    names = [d["attributes"]["name"] for d in first.json["data"] + second.json["data"]]
    assert names == [f"List {index:02}" for index in range(12)]
    assert "next" not in second.json["links"]
    assert [d["attributes"]["name"] for d in named.json["data"]] == ["List 03"]
    assert too_big.status_code == 400


def test_adding_and_removing_members_by_profile_id(klaviyo, newsletter):
    ann, bob = profile_with(klaviyo, "ann@example.com"), profile_with(klaviyo, "bob@example.com")
    path = f"{LISTS}/{newsletter.id}/relationships/profiles"

    added = klaviyo.post(path, members_body([ann, bob, ann]))
    removed = klaviyo.delete(path, members_body([bob]))
    ids = klaviyo.get(path)
    profiles = klaviyo.get(
        f"{LISTS}/{newsletter.id}/profiles",
        query_string={"additional-fields[profile]": "subscriptions"},
    )

    assert (added.status_code, removed.status_code) == (204, 204)
    assert klaviyo.response_matches_spec(ids) and klaviyo.response_matches_spec(profiles)
    assert [d["id"] for d in ids.json["data"]] == [ann]
    [member] = profiles.json["data"]
    assert member["attributes"]["email"] == "ann@example.com"
    assert member["attributes"]["joined_group_at"]
    assert member["attributes"]["subscriptions"]["email"]["marketing"]["consent"] == (
        "NEVER_SUBSCRIBED"
    )
    operations = [(h["operation"], h["endpoint"]) for h in history_entries(klaviyo.app.store)]
    assert operations == [
        ("list_add", "add_profiles_to_list"),
        ("list_add", "add_profiles_to_list"),
        ("list_remove", "remove_profiles_from_list"),
    ]


def test_membership_refuses_unknown_lists_unknown_profiles_and_over_1000(klaviyo, newsletter):
    ann = profile_with(klaviyo, "ann@example.com")
    path = f"{LISTS}/{newsletter.id}/relationships/profiles"

    unknown_list = klaviyo.post(f"{LISTS}/Nope12/relationships/profiles", members_body([ann]))
    unknown_profile = klaviyo.post(path, members_body([ann, "01NOPE"]))
    too_many = klaviyo.post(path, members_body([ann] * 1001))

    assert unknown_list.status_code == 404
    assert unknown_profile.status_code == 404
    assert unknown_profile.json["errors"][0]["source"]["pointer"] == "/data/1/id"
    assert too_many.status_code == 400
    assert newsletter.members == {}


def test_members_filter_by_email(klaviyo, newsletter):
    for email in ("ann@example.com", "bob@example.com"):
        klaviyo.post(
            f"{LISTS}/{newsletter.id}/relationships/profiles",
            members_body([profile_with(klaviyo, email)]),
        )

    found = klaviyo.get(
        f"{LISTS}/{newsletter.id}/profiles",
        query_string={"filter": 'any(email,["BOB@example.com"])'},
    )

    assert [d["attributes"]["email"] for d in found.json["data"]] == ["bob@example.com"]


def test_a_bulk_import_with_lists_adds_every_imported_profile(klaviyo, newsletter):
    body = {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {"type": "profile", "attributes": {"email": "ann@example.com"}},
                        {"type": "profile", "attributes": {"email": "bad"}},
                    ]
                }
            },
            "relationships": {"lists": {"data": [{"type": "list", "id": newsletter.id}]}},
        }
    }

    response = klaviyo.post("/api/profile-bulk-import-jobs", body)
    body["data"]["relationships"]["lists"]["data"][0]["id"] = "Nope12"
    refused = klaviyo.post("/api/profile-bulk-import-jobs", body)
    job_id = response.json["data"]["id"]
    klaviyo.get(f"/api/profile-bulk-import-jobs/{job_id}/")  # the job runs after its answer

    assert response.status_code == 202
    members = [klaviyo.app.store.profiles[p].attributes["email"] for p in newsletter.members]
    assert members == ["ann@example.com"]
    assert refused.status_code == 404


def test_profile_reads_show_subscriptions_when_asked(klaviyo):
    klaviyo.post(
        "/api/profile-subscription-bulk-create-jobs",
        subscribe_body(
            [
                {
                    "email": "ann@example.com",
                    "phone_number": "+15005550006",
                    "subscriptions": channels("email", "sms"),
                }
            ]
        ),
    )
    klaviyo.post("/api/profile-suppression-bulk-create-jobs", suppression_body(["ann@example.com"]))
    params = {"additional-fields[profile]": "subscriptions"}

    plain = klaviyo.get("/api/profiles", query_string={"filter": 'equals(email,"ann@example.com")'})
    found = klaviyo.get(
        "/api/profiles",
        query_string={**params, "filter": 'any(email,["ann@example.com","x@example.com"])'},
    )
    profile_id = found.json["data"][0]["id"]
    one = klaviyo.get(f"/api/profiles/{profile_id}", query_string=params)

    assert "subscriptions" not in plain.json["data"][0]["attributes"]
    for response in (found, one):
        assert klaviyo.response_matches_spec(response)
    email = one.json["data"]["attributes"]["subscriptions"]["email"]["marketing"]
    assert (email["consent"], email["can_receive_email_marketing"]) == ("SUBSCRIBED", False)
    assert [s["reason"] for s in email["suppression"]] == ["USER_SUPPRESSED"]
    sms = one.json["data"]["attributes"]["subscriptions"]["sms"]["marketing"]
    assert (sms["consent"], sms["can_receive_sms_marketing"]) == ("SUBSCRIBED", True)
    assert klaviyo.get("/api/profiles/01NOPE").status_code == 404


def test_profiles_filter_by_suppression_reason_and_keep_sparse_fields(klaviyo):
    klaviyo.post("/api/profile-suppression-bulk-create-jobs", suppression_body(["ann@example.com"]))
    profile_with(klaviyo, "bob@example.com")

    suppressed = klaviyo.get(
        "/api/profiles",
        query_string={
            "filter": 'equals(subscriptions.email.marketing.suppression.reason,"USER_SUPPRESSED")',
            "fields[profile]": "email",
        },
    )

    assert [d["attributes"] for d in suppressed.json["data"]] == [{"email": "ann@example.com"}]


def test_a_profile_includes_its_lists(klaviyo, newsletter):
    ann = profile_with(klaviyo, "ann@example.com")
    klaviyo.post(f"{LISTS}/{newsletter.id}/relationships/profiles", members_body([ann]))

    response = klaviyo.get(f"/api/profiles/{ann}", query_string={"include": "lists"})

    assert klaviyo.response_matches_spec(response)
    assert [item["id"] for item in response.json["included"]] == [newsletter.id]


@pytest.mark.parametrize(
    ("method", "operation"),
    [("POST", "add_profiles_to_list"), ("DELETE", "remove_profiles_from_list")],
)
def test_faults_aimed_at_a_list_route_fail_its_first_requests(
    klaviyo, newsletter, method, operation
):
    ann = profile_with(klaviyo, "ann@example.com")
    path = f"{LISTS}/{newsletter.id}/relationships/profiles"
    klaviyo.app.faults.configure({"status": 503, "count": 1, "operation": operation})
    other = "DELETE" if method == "POST" else "POST"

    def send(verb):
        return klaviyo.post(path, members_body([ann]), method=verb).status_code

    assert [send(other), send(method), send(method)] == [204, 503, 204]


def test_a_removal_body_the_spec_refuses_is_a_400(klaviyo, newsletter):
    ann = profile_with(klaviyo, "ann@example.com")
    klaviyo.post(f"{LISTS}/{newsletter.id}/relationships/profiles", members_body([ann]))

    response = klaviyo.delete(
        f"{LISTS}/{newsletter.id}/relationships/profiles", {"data": [{"type": "list", "id": ann}]}
    )

    assert response.status_code == 400
    assert list(newsletter.members) == [ann]
