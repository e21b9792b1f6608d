"""POST /profiles and GET /profiles/{email}: profiles upserted without events."""

import pytest
from rest_framework.test import APIClient

from events.models import Profile, ProfileChange, SyncStatus
from events.tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _klaviyo_key(settings) -> None:
    """A key is set: what is stored is pending for Klaviyo (without one, skipped)."""
    settings.KLAVIYO_API_KEY = "pk_test_profiles"


FIELDS = {
    "id",
    "email",
    "phoneNumber",
    "externalId",
    "anonymousId",
    "attributes",
    "klaviyoId",
    "syncStatus",
    "lastError",
    "createdAt",
    "updatedAt",
}


def test_it_creates_a_profile_and_answers_201(api_client: APIClient) -> None:
    response = api_client.post(
        "/profiles",
        {"email": "Ann@Example.com", "profileAttributes": {"firstName": "Ann", "plan": "pro"}},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == FIELDS
    assert body["email"] == "ann@example.com"
    assert body["attributes"] == {"firstName": "Ann", "plan": "pro"}
    assert body["syncStatus"] == "pending"
    profile = Profile.objects.get(email="ann@example.com")
    assert body["id"] == profile.id
    assert profile.attributes == {"firstName": "Ann", "plan": "pro"}
    assert list(ProfileChange.objects.values_list("attributes", flat=True)) == [
        {"firstName": "Ann", "plan": "pro"}
    ]


def test_it_merges_into_an_existing_profile_null_removing_and_answers_200(
    api_client: APIClient,
) -> None:
    profile = ProfileFactory(
        email="ann@example.com", attributes={"firstName": "Ann", "plan": "pro", "city": "Lyon"}
    )
    Profile.objects.filter(id=profile.id).update(sync_status=SyncStatus.SENT)

    response = api_client.post(
        "/profiles",
        {"email": "ann@example.com", "profileAttributes": {"plan": None, "city": "Nice"}},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["id"] == profile.id
    assert response.json()["attributes"] == {"firstName": "Ann", "city": "Nice"}
    profile.refresh_from_db()
    assert profile.attributes == {"firstName": "Ann", "city": "Nice"}
    assert profile.sync_status == SyncStatus.PENDING
    # What goes to Klaviyo is the change, nulls included, not the merged profile.
    assert ProfileChange.objects.get().attributes == {"plan": None, "city": "Nice"}


@pytest.mark.parametrize(
    ("attributes", "field", "value"),
    [
        ({"phoneNumber": "+15005550006"}, "phoneNumber", "+15005550006"),
        ({"externalId": "crm-7"}, "externalId", "crm-7"),
        ({"anonymousId": "visitor-1"}, "anonymousId", "visitor-1"),
    ],
)
def test_it_identifies_a_profile_without_email_as_events_do(
    api_client: APIClient, attributes: dict, field: str, value: str
) -> None:
    first = api_client.post("/profiles", {"profileAttributes": attributes}, format="json")
    again = api_client.post(
        "/profiles", {"profileAttributes": {**attributes, "firstName": "Bo"}}, format="json"
    )

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()[field] == value
    assert again.json()["id"] == first.json()["id"]
    assert Profile.objects.get().attributes == {**attributes, "firstName": "Bo"}


def test_an_event_and_a_profile_post_share_the_profile(api_client: APIClient) -> None:
    api_client.post("/events", {"eventName": "Purchase", "email": "a@example.com"}, format="json")

    response = api_client.post(
        "/profiles", {"email": "a@example.com", "profileAttributes": {"x": 1}}, format="json"
    )

    assert response.status_code == 200
    assert Profile.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"profileAttributes": {"firstName": "A"}},
            "a profile needs email, profileAttributes.phoneNumber, "
            "profileAttributes.externalId or profileAttributes.anonymousId",
        ),
        ({"email": "nope"}, "email must be a valid email"),
        (
            {"email": "a@example.com", "profileAttributes": {"phoneNumber": "555"}},
            "profileAttributes.phoneNumber must be in E.164 format, like +15005550006",
        ),
        (
            {"profileAttributes": {"phoneNumber": "+15005550006", "email": "nope"}},
            "profileAttributes.email must be a valid email",
        ),
        ({"email": "a@example.com", "attributes": {}}, "property attributes should not exist"),
        ([], "request body must be a JSON object"),
    ],
)
def test_it_refuses_a_bad_profile(api_client: APIClient, body: object, message: str) -> None:
    response = api_client.post("/profiles", body, format="json")

    assert response.status_code == 400
    assert message in response.json()["message"]
    assert not Profile.objects.exists()


def test_it_answers_a_profile_by_email_case_insensitively(api_client: APIClient) -> None:
    profile = ProfileFactory(email="ann@example.com", attributes={"firstName": "Ann"})

    response = api_client.get("/profiles/ANN@example.com")

    assert response.status_code == 200
    assert response.json()["id"] == profile.id
    assert response.json()["attributes"] == {"firstName": "Ann"}


def test_it_answers_404_for_an_unknown_profile_and_400_for_a_bad_email(
    api_client: APIClient,
) -> None:
    assert api_client.get("/profiles/who@example.com").status_code == 404
    assert api_client.get("/profiles/not-an-email").status_code == 400


def test_it_needs_the_api_key(anonymous_client: APIClient) -> None:
    assert anonymous_client.post("/profiles", {"email": "a@example.com"}).status_code == 401
    assert anonymous_client.get("/profiles/a@example.com").status_code == 401


def test_a_bulk_upserts_every_profile_and_answers_in_input_order(api_client: APIClient) -> None:
    existing = ProfileFactory(email="ann@example.com", attributes={"firstName": "Ann", "x": 1})
    body = {
        "profiles": [
            {"email": "bo@example.com", "profileAttributes": {"firstName": "Bo"}},
            {"email": "ANN@example.com", "profileAttributes": {"x": None, "city": "Lyon"}},
            {"profileAttributes": {"phoneNumber": "+15005550006"}},
            {"email": "bo@example.com", "profileAttributes": {"plan": "pro"}},
        ]
    }

    response = api_client.post("/profiles/bulk", body, format="json")

    assert response.status_code == 201
    bo = Profile.objects.get(email="bo@example.com")
    phone = Profile.objects.get(phone_number="+15005550006")
    assert response.json() == {
        "count": 4,
        "profiles": [
            {"id": bo.id, "email": "bo@example.com"},
            {"id": existing.id, "email": "ann@example.com"},
            {"id": phone.id, "email": None},
            {"id": bo.id, "email": "bo@example.com"},
        ],
    }
    existing.refresh_from_db()
    assert existing.attributes == {"firstName": "Ann", "city": "Lyon"}
    assert bo.attributes == {"firstName": "Bo", "plan": "pro"}
    assert list(
        ProfileChange.objects.filter(profile=bo).order_by("id").values_list("attributes", flat=True)
    ) == [{"firstName": "Bo"}, {"plan": "pro"}]
    assert ProfileChange.objects.count() == 4


@pytest.mark.parametrize("removed", [None, "plain"])
def test_a_bulk_applies_a_persons_items_in_order_where_one_replaces_what_another_removed(
    api_client: APIClient, removed: object
) -> None:
    """Removed (or set to a non-object), then an object: as two posts in that order, the
    object alone, not merged into what was there (one folded patch would merge it)."""
    ann = ProfileFactory(email="ann@example.com", attributes={"prefs": {"color": "red"}, "n": 1})
    body = {
        "profiles": [
            {"email": "ann@example.com", "profileAttributes": {"prefs": removed, "n": 2}},
            {"email": "bo@example.com", "profileAttributes": {"prefs": {"size": "S"}}},
            {"email": "ann@example.com", "profileAttributes": {"prefs": {"size": "L"}}},
            {"email": "ann@example.com", "profileAttributes": {"prefs": {"fit": "slim"}}},
        ]
    }

    response = api_client.post("/profiles/bulk", body, format="json")

    assert response.status_code == 201
    bo = Profile.objects.get(email="bo@example.com")
    assert [item["id"] for item in response.json()["profiles"]] == [ann.id, bo.id, ann.id, ann.id]
    ann.refresh_from_db()
    assert ann.attributes == {"prefs": {"size": "L", "fit": "slim"}, "n": 2}
    assert bo.attributes == {"prefs": {"size": "S"}}
    assert ProfileChange.objects.filter(profile=ann).count() == 3


def test_a_bulk_is_all_or_nothing(api_client: APIClient) -> None:
    body = {
        "profiles": [
            {"email": "bo@example.com"},
            {"email": "nope"},
            {"email": "c@example.com", "extra": 1},
            {"profileAttributes": {"externalId": "crm-7", "email": "d@"}},
        ]
    }

    response = api_client.post("/profiles/bulk", body, format="json")

    assert response.status_code == 400
    assert set(response.json()["message"]) == {
        "profiles.1.email must be a valid email",
        "profiles.2.property extra should not exist",
        "profiles.3.profileAttributes.email must be a valid email",
    }
    assert not Profile.objects.exists()


def test_a_bulk_holds_one_to_the_configured_number_of_profiles(
    api_client: APIClient, settings
) -> None:
    settings.BULK_MAX_PROFILES = 2
    too_many = {"profiles": [{"email": f"p{i}@example.com"} for i in range(3)]}

    assert api_client.post("/profiles/bulk", {"profiles": []}, format="json").json()["message"] == [
        "profiles must hold at least one profile"
    ]
    assert api_client.post("/profiles/bulk", too_many, format="json").json()["message"] == [
        "profiles must hold at most 2 profiles"
    ]
    assert not Profile.objects.exists()


def test_a_bulk_of_many_profiles_takes_a_few_statements(
    api_client: APIClient, django_assert_max_num_queries
) -> None:
    body = {"profiles": [{"email": f"p{i}@example.com"} for i in range(2500)]}

    with django_assert_max_num_queries(20):
        response = api_client.post("/profiles/bulk", body, format="json")

    assert response.status_code == 201
    assert Profile.objects.count() == 2500
