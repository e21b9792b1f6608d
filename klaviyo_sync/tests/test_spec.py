"""Every kind of request the client sends, as it sends it, validated against Klaviyo's official
OpenAPI spec (revision 2026-07-15, klaviyo_emulator/openapi/stable.json) with openapi-core.

The requests are captured with `responses` at the spec's own server (https://a.klaviyo.com/api),
so paths, query parameters, headers and bodies are checked exactly as they would go out.
"""

import json
import re
from datetime import UTC, datetime

import pytest
import responses
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest
from openapi_core.validation.request.exceptions import InvalidRequestBody

from events.consent_services import consent_change_create
from events.erasure_services import profile_erase
from events.merge_patch import json_merge_patch
from events.models import ConsentKind, ErasureRequest, ProfileChange
from events.tests.factories import EventFactory, ProfileFactory
from klaviyo_client import operations, profiles
from klaviyo_client.client import KlaviyoClient
from klaviyo_client.limits import RATE_LIMITS
from klaviyo_client.ratelimit import parse_limits
from klaviyo_emulator.validation import SPEC_PATH, spec_load
from klaviyo_sync import erasure_tasks, tasks
from klaviyo_sync.consent_sync import consent_change_sync
from klaviyo_sync.services import klaviyo_sync_test

BASE = "https://a.klaviyo.com/api"
LIST_ID = "Y6nRLr"
FULL_PROFILE = {
    "firstName": "Sarah",
    "lastName": "Mason",
    "phoneNumber": "+15005550006",
    "externalId": "user-42",
    "organization": "Example Corporation",
    "title": "Regional Manager",
    "image": "https://images.example.com/sarah.jpg",
    "locale": "en-US",
    "city": "New York",
    "location": {"address1": "89 E 42nd St", "zip": "10017", "latitude": 40.7128},
    "plan": "pro",
    "tags": ["a", "b"],
}
# What an event carries to clear: a standard attribute, a location key, custom properties.
CLEARS = {"title": None, "zip": None, "location": {"address1": None}, "old": None, "gone": None}


@pytest.fixture(scope="session")
def spec() -> OpenAPI:
    return spec_load()


@pytest.fixture
def sent():
    """Klaviyo at its real address, answering every kind of call; yields the calls."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        empty = {"data": [], "links": {"next": None}}
        mock.get(f"{BASE}/accounts", json={"data": [{"type": "account", "id": "A1"}]})
        mock.get(f"{BASE}/metrics", json=empty)
        mock.get(f"{BASE}/profiles", json={"data": [{"type": "profile", "id": "P1"}]})
        mock.get(f"{BASE}/events", json=empty)
        mock.post(f"{BASE}/metric-aggregates", json={"data": {"type": "metric-aggregate"}})
        mock.post(f"{BASE}/events", status=202)
        mock.post(f"{BASE}/event-bulk-create-jobs", status=202)
        mock.post(f"{BASE}/profile-import", status=201, json={"data": {"id": "P1"}})
        mock.post(
            f"{BASE}/profile-bulk-import-jobs",
            status=202,
            json={"data": {"type": "profile-bulk-import-job", "id": "J1"}},
        )
        job = {"data": {"type": "profile-bulk-import-job", "id": "J1", "attributes": {}}}
        mock.get(f"{BASE}/profile-bulk-import-jobs/J1", json=job)
        mock.get(f"{BASE}/profile-bulk-import-jobs/J1/import-errors", json=empty)
        mock.get(f"{BASE}/lists", json=empty)
        mock.post(f"{BASE}/lists/{LIST_ID}/relationships/profiles", status=204)
        mock.delete(f"{BASE}/lists/{LIST_ID}/relationships/profiles", status=204)
        mock.post(f"{BASE}/data-privacy-deletion-jobs", status=202)
        yield mock.calls


@pytest.fixture
def configured(settings):
    settings.KLAVIYO_API_KEY = "pk_spec_test"
    settings.KLAVIYO_BASE_URL = BASE
    settings.KLAVIYO_REVISION = "2026-07-15"


@pytest.fixture
def client(configured) -> KlaviyoClient:
    return KlaviyoClient(
        api_key="pk_spec_test", base_url=BASE, revision="2026-07-15", timeout=(1, 1)
    )


def assert_valid(spec: OpenAPI, calls) -> None:
    assert len(calls) > 0
    for call in calls:
        request = RequestsOpenAPIRequest(call.request)
        spec.validate_request(request)  # raises with the reason when invalid


def test_the_spec_rejects_what_klaviyo_would(spec, client, sent):
    """The check itself can fail: a body without the required metric is refused."""
    client.event_create(data={"type": "event", "attributes": {"properties": {}}})

    with pytest.raises(InvalidRequestBody, match="'metric' is a required property"):
        assert_valid(spec, sent)


def test_reads_follow_the_spec(spec, client, sent):
    client.account_check()
    client.metrics_list()
    client.profile_get_by_email(email='o"hara+test@example.com')
    client.events_list(
        metric_id="M1",
        profile_id="P1",
        since=datetime(2025, 9, 15, tzinfo=UTC),
        until=datetime(2025, 9, 16, 12, 30, 15, 250000, tzinfo=UTC),
        page_cursor="abc",
        page_size=200,
        include_profile=True,
        sort="-datetime",
    )
    client.metric_aggregate(
        metric_id="M1",
        start=datetime(2025, 9, 15, tzinfo=UTC),
        end=datetime(2025, 9, 16, tzinfo=UTC),
        timezone="Europe/Paris",
        measurements=("count", "unique", "sum_value"),
    )

    assert len(sent) == 5
    assert_valid(spec, sent)


@pytest.mark.django_db
def test_a_single_event_follows_the_spec(spec, configured, sent):
    # The row holds what the event's changes left (each key is sent as it now stands).
    stands = json_merge_patch(FULL_PROFILE, CLEARS)
    profile = ProfileFactory(phone_number="+15005550006", attributes=stands)
    event = EventFactory(
        profile=profile,
        profile_attributes={**FULL_PROFILE, **CLEARS},
        value=9.99,
        value_currency="EUR",
        unique_id="order-1",
    )

    tasks.sync_events.delay([str(event.id)])

    assert [c.request.url for c in sent] == [f"{BASE}/events"]
    assert_valid(spec, sent)
    attributes = json.loads(sent[0].request.body)["data"]["attributes"]
    assert attributes["value_currency"] == "EUR"
    profile_sent = attributes["profile"]["data"]["attributes"]
    assert profile_sent["meta"] == {"patch_properties": {"unset": ["old", "gone"]}}
    assert profile_sent["title"] is None and profile_sent["location"]["zip"] is None


@pytest.mark.django_db
def test_a_bulk_job_follows_the_spec(spec, configured, sent, settings):
    settings.KLAVIYO_BULK_MIN_EVENTS = 2
    profiles = [ProfileFactory(attributes=json_merge_patch(FULL_PROFILE, CLEARS)), ProfileFactory()]
    events = [
        EventFactory(
            profile=profiles[i % 2],
            profile_attributes={**FULL_PROFILE, **CLEARS} if i == 0 else {},
            value=float(i),
            value_currency="USD",
        )
        for i in range(4)
    ]

    tasks.sync_events.delay([str(e.id) for e in events])

    assert [c.request.url for c in sent] == [f"{BASE}/event-bulk-create-jobs"]
    assert_valid(spec, sent)
    body = json.loads(sent[0].request.body)
    groups = body["data"]["attributes"]["events-bulk-create"]["data"]
    assert len(groups) == 2
    unset = [group["attributes"]["profile"]["data"].get("meta") for group in groups]
    assert {"patch_properties": {"unset": ["old", "gone"]}} in unset


@pytest.mark.django_db
def test_a_profile_import_follows_the_spec(spec, configured, sent):
    profile = ProfileFactory(attributes=json_merge_patch(FULL_PROFILE, CLEARS))
    EventFactory(profile=profile, profile_attributes=CLEARS)

    tasks.sync_profile.delay(profile.id)

    assert [c.request.url for c in sent] == [f"{BASE}/profile-import"]
    assert_valid(spec, sent)
    data = json.loads(sent[0].request.body)["data"]
    assert data["meta"] == {"patch_properties": {"unset": ["old", "gone"]}}


@pytest.mark.django_db
def test_the_update_after_a_409_follows_the_spec(spec, configured):
    duplicate = {
        "errors": [
            {
                "id": "e1",
                "status": 409,
                "code": "duplicate_profile",
                "title": "Conflict.",
                "detail": "A profile already exists with one of these identifiers.",
                "source": {"pointer": "/data/attributes"},
                "meta": {"duplicate_profile_id": "01DUPLICATE"},
            }
        ]
    }
    profile = ProfileFactory(attributes=FULL_PROFILE)
    with responses.RequestsMock() as mock:
        mock.post(f"{BASE}/profile-import", status=409, json=duplicate)
        mock.patch(f"{BASE}/profiles/01DUPLICATE", json={"data": {"id": "01DUPLICATE"}})

        tasks.sync_profile.delay(profile.id)
        calls = list(mock.calls)

    assert [c.request.method for c in calls] == ["POST", "PATCH"]
    assert_valid(spec, calls)
    patch = json.loads(calls[1].request.body)["data"]
    assert patch["id"] == "01DUPLICATE"
    assert "email" not in patch["attributes"] and "external_id" not in patch["attributes"]


def test_a_profile_bulk_import_follows_the_spec(spec, client, sent):
    bodies = [
        profiles.profile_resource(
            profile_row={"email": "a@example.com", "attributes": FULL_PROFILE}
        ),
        profiles.profile_resource(profile_row={"email": "b@example.com", "attributes": {}}),
    ]

    client.profile_bulk_import_job(profiles=bodies)

    assert_valid(spec, sent)


def test_the_sync_test_event_follows_the_spec(spec, configured, sent):
    klaviyo_sync_test(email="me@example.com", event_name="Klaviyo Sync Test")

    assert_valid(spec, sent)


@pytest.mark.django_db
def test_the_sync_of_profile_changes_follows_the_spec(spec, configured, sent):
    profile = ProfileFactory(attributes=json_merge_patch(FULL_PROFILE, CLEARS))
    ProfileChange.objects.create(profile=profile, attributes={**FULL_PROFILE, **CLEARS})

    tasks.sync_profile_changes.delay(profile.id)

    assert [c.request.url for c in sent] == [f"{BASE}/profile-import"]
    assert_valid(spec, sent)
    data = json.loads(sent[0].request.body)["data"]
    assert data["meta"] == {"patch_properties": {"unset": ["old", "gone"]}}


def test_following_a_profile_bulk_import_job_follows_the_spec(spec, client, sent):
    client.profile_bulk_import_job_get(job_id="J1")
    client.profile_bulk_import_errors(job_id="J1")

    assert [c.request.url.split("?")[0] for c in sent] == [
        f"{BASE}/profile-bulk-import-jobs/J1",
        f"{BASE}/profile-bulk-import-jobs/J1/import-errors",
    ]
    assert_valid(spec, sent)


def test_the_list_calls_follow_the_spec(spec, client, sent):
    client.lists_page(page_size=10)
    client.lists_page(page_cursor="C2", page_size=3, name='VIP "gold"')
    client.lists_page(page_size=1, list_id=LIST_ID)
    client.list_profiles_add(list_id=LIST_ID, profile_ids=["01P1", "01P2"])
    client.list_profiles_remove(list_id=LIST_ID, profile_ids=["01P1"])
    client.profile_ids_by_email(emails=["a@example.com", 'o"hara@example.com'])
    client.profile_bulk_import_job(
        profiles=[profiles.profile_resource(profile_row={"email": "a@example.com"})],
        list_ids=[LIST_ID],
    )

    assert [(c.request.method, c.request.url.split("?")[0]) for c in sent] == [
        ("GET", f"{BASE}/lists"),
        ("GET", f"{BASE}/lists"),
        ("GET", f"{BASE}/lists"),
        ("POST", f"{BASE}/lists/{LIST_ID}/relationships/profiles"),
        ("DELETE", f"{BASE}/lists/{LIST_ID}/relationships/profiles"),
        ("GET", f"{BASE}/profiles"),
        ("POST", f"{BASE}/profile-bulk-import-jobs"),
    ]
    assert_valid(spec, sent)
    job = json.loads(sent[6].request.body)["data"]
    assert job["relationships"] == {"lists": {"data": [{"type": "list", "id": LIST_ID}]}}


def test_the_spec_refuses_a_membership_body_without_ids(spec, client, sent):
    """The membership check itself can fail: a profile without its id is refused."""
    client._call(
        operations.ADD_PROFILES_TO_LIST, body={"data": [{"type": "profile"}]}, path_id=LIST_ID
    )

    with pytest.raises(InvalidRequestBody, match="'id' is a required property"):
        assert_valid(spec, sent)


def spec_limits(spec_document: dict, operation: operations.Operation) -> dict[str, int]:
    """The operation's `x-klaviyo-ratelimit` as counts per window (`{"s": 10, "m": 150}`)."""
    paths = {
        re.sub(r"\{[^}]+\}", "{}", path): item for path, item in spec_document["paths"].items()
    }
    template = re.sub(r"\{[^}]+\}", "{}", f"/api/{operation.path}")  # {id} or {job_id}
    declared = paths[template][operation.method.lower()]
    counts = {}
    for text in declared["x-klaviyo-ratelimit"].values():
        count, unit = text.split("/")
        counts[unit] = int(count)
    return counts


def test_each_operation_is_held_to_its_published_rate_limit_or_a_stricter_one():
    """Every operation's bucket (limits.RATE_LIMITS) against the spec: the same windows,
    none allowing more than Klaviyo publishes for that operation."""
    document = json.loads(SPEC_PATH.read_text())
    windows = {1: "s", 60: "m", 3600: "h", 86400: "d"}
    for operation in vars(operations).values():
        if not isinstance(operation, operations.Operation):
            continue
        published = spec_limits(document, operation)
        limits = parse_limits(RATE_LIMITS[operation.bucket])
        ours = {windows[int(limit.per)]: limit.count for limit in limits}
        assert set(ours) == set(published), operation.name
        for unit, count in ours.items():
            assert count <= published[unit], f"{operation.name}: {count}/{unit}"


@pytest.mark.django_db
def test_a_list_change_sent_by_the_worker_follows_the_spec(spec, configured):
    ProfileFactory(email="ann@example.com", klaviyo_id="01ANN")
    found = {"type": "profile", "id": "01BOB", "attributes": {"email": "bob@example.com"}}
    job = {"type": "profile-bulk-import-job", "id": "J1", "attributes": {"status": "complete"}}
    added = consent_change_create(
        kind=ConsentKind.LIST_ADD,
        addresses=[{"email": e} for e in ("ann@example.com", "bob@example.com", "new@example.com")],
        list_id=LIST_ID,
    )
    removed = consent_change_create(
        kind=ConsentKind.LIST_REMOVE, addresses=[{"email": "bob@example.com"}], list_id=LIST_ID
    )
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/profiles", json={"data": [found]})
        mock.post(f"{BASE}/lists/{LIST_ID}/relationships/profiles", status=204)
        mock.delete(f"{BASE}/lists/{LIST_ID}/relationships/profiles", status=204)
        mock.post(f"{BASE}/profile-bulk-import-jobs", status=202, json={"data": job})
        mock.get(f"{BASE}/profile-bulk-import-jobs/J1", json={"data": job})

        consent_change_sync(change_id=added.id)
        consent_change_sync(change_id=removed.id)
        calls = list(mock.calls)

    # bob has no local profile to keep his id: the removal looks him up again
    assert [c.request.method for c in calls] == [
        *("GET", "POST", "POST", "GET", "GET"),
        *("GET", "DELETE"),
    ]
    assert_valid(spec, calls)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "value", "sent_profile"),
    [
        ("email", "ann@example.com", {"attributes": {"email": "ann@example.com"}}),
        ("phone_number", "+15005550006", {"attributes": {"phone_number": "+15005550006"}}),
        ("external_id", "crm-1", {"id": "P1", "attributes": {}}),  # looked up: P1
    ],
)
def test_an_erasure_follows_the_spec(spec, configured, sent, kind, value, sent_profile):
    erasure = profile_erase(kind=kind, value=value)

    erasure_tasks.send_erasure.delay(str(erasure.id))

    assert sent[-1].request.url == f"{BASE}/data-privacy-deletion-jobs"
    assert_valid(spec, sent)
    data = json.loads(sent[-1].request.body)["data"]
    assert data["attributes"]["profile"]["data"] == {"type": "profile", **sent_profile}
    assert ErasureRequest.objects.get().status == "sent"


def test_the_spec_refuses_a_deletion_job_without_its_profile(spec, client, sent):
    """The check can fail for this kind too."""
    client._call(  # what a client forgetting the profile would send
        operations.REQUEST_PROFILE_DELETION,
        body={"data": {"type": "data-privacy-deletion-job", "attributes": {}}},
    )

    with pytest.raises(InvalidRequestBody, match="'profile' is a required property"):
        assert_valid(spec, sent)
