"""End to end against the Klaviyo emulator: what a Klaviyo account holds of a profile's
location once it is cleared or replaced, and of a key a late retry carries after a later
change of it went first (each key goes as it now stands here)."""

import pytest

from events.models import Event, Profile, SyncStatus
from klaviyo_emulator.server import Emulator
from klaviyo_sync import tasks
from klaviyo_sync.tests.conftest import klaviyo_is
from klaviyo_sync.tests.test_semantics_e2e import in_klaviyo, klaviyo_import

pytestmark = pytest.mark.django_db
EMAIL = "ann@example.com"


@pytest.fixture
def klaviyo(emulator: Emulator, settings) -> Emulator:
    # A retry is queued with a countdown (held by the test), due by the time the test runs it.
    return klaviyo_is(emulator, settings, retry_after=0.001)


@pytest.fixture
def post(api_client, django_capture_on_commit_callbacks):
    """Posts a body; its sync runs on commit unless `sync=False` (a backlog, sent later)."""

    def post(path: str, body: dict, *, sync: bool = True) -> dict:
        with django_capture_on_commit_callbacks(execute=sync):
            response = api_client.post(path, body, format="json")
        assert response.status_code in (200, 201), response.content
        return response.json()

    return post


@pytest.fixture
def retries(monkeypatch) -> list[tuple[str, list]]:
    """The retries the sync queues (with a countdown), held until the test runs them."""
    held: list[tuple[str, list]] = []
    for kind, name in (("p", "queue_profiles_sync"), ("e", "queue_event_sync")):
        queue = getattr(tasks, name)

        def hold(ids, countdown=None, kind=kind, queue=queue):
            return held.append((kind, list(ids))) if countdown else queue(ids)

        monkeypatch.setattr(tasks, name, hold)
    return held


def run(retries: list[tuple[str, list]]) -> None:
    for kind, ids in retries:
        if kind == "e":
            tasks.sync_events(ids)
        else:
            for profile_id in ids:
                tasks.sync_profile_changes(profile_id)


def located(klaviyo, post, location: dict) -> None:
    post("/profiles", {"email": EMAIL, "profileAttributes": {"location": location}})
    assert {k: v for k, v in in_klaviyo(klaviyo, email=EMAIL)["location"].items() if v} == {
        key: value for key, value in location.items() if key in ("city", "zip")
    }


def test_a_location_set_to_null_is_cleared_in_klaviyo(klaviyo, post):
    located(klaviyo, post, {"city": "Lyon", "zip": "69001", "note": "back door"})

    answer = post("/profiles", {"email": EMAIL, "profileAttributes": {"location": None}})

    assert "location" not in answer["attributes"]
    held = in_klaviyo(klaviyo, email=EMAIL)
    assert not any((held.get("location") or {}).values()), held
    assert "location" not in (held.get("properties") or {}), held
    assert Profile.objects.get(email=EMAIL).sync_status == SyncStatus.SENT


def test_a_location_removed_then_set_anew_in_one_send_keeps_nothing_of_the_old_one(klaviyo, post):
    located(klaviyo, post, {"city": "Lyon", "zip": "69001"})
    post("/profiles", {"email": EMAIL, "profileAttributes": {"location": None}}, sync=False)
    post(
        "/profiles",
        {"email": EMAIL, "profileAttributes": {"location": {"city": "Paris"}}},
        sync=False,
    )
    profile = Profile.objects.get(email=EMAIL)
    assert profile.attributes == {"location": {"city": "Paris"}}

    tasks.sync_profile_changes(profile.id)  # both changes in one profile-import

    held = in_klaviyo(klaviyo, email=EMAIL)["location"]
    assert {key: value for key, value in held.items() if value} == {"city": "Paris"}


def test_the_last_custom_key_of_a_location_cleared_leaves_no_custom_location(klaviyo, post):
    located(klaviyo, post, {"city": "Lyon", "note": "back door"})
    assert in_klaviyo(klaviyo, email=EMAIL)["properties"] == {"location": {"note": "back door"}}

    answer = post("/profiles", {"email": EMAIL, "profileAttributes": {"location": {"note": None}}})

    assert answer["attributes"] == {"location": {"city": "Lyon"}}
    held = in_klaviyo(klaviyo, email=EMAIL)
    assert held["location"]["city"] == "Lyon"
    assert "location" not in (held.get("properties") or {}), held


def test_a_profile_change_retried_after_a_later_event_does_not_undo_it(klaviyo, post, retries):
    klaviyo.app.faults.configure(
        {"status": 503, "count": 1, "operation": "create_or_update_profile"}
    )
    post("/profiles", {"email": EMAIL, "profileAttributes": {"plan": "free", "seats": 3}})
    assert retries  # the 503's retry, held for its countdown

    post("/events", {"eventName": "Upgraded", "email": EMAIL, "profileAttributes": {"plan": "pro"}})
    assert in_klaviyo(klaviyo, email=EMAIL)["properties"]["plan"] == "pro"
    run(retries)

    profile = Profile.objects.get(email=EMAIL)
    assert (profile.attributes, profile.sync_status) == (
        {"plan": "pro", "seats": 3},
        SyncStatus.SENT,
    )
    assert in_klaviyo(klaviyo, email=EMAIL)["properties"] == {"plan": "pro", "seats": 3}


def test_an_event_retried_after_a_later_one_does_not_undo_its_profile_change(
    klaviyo, post, retries
):
    klaviyo.app.faults.configure({"status": 503, "count": 1, "operation": "create_event"})
    post(
        "/events", {"eventName": "Signed Up", "email": EMAIL, "profileAttributes": {"plan": "free"}}
    )
    assert retries and Event.objects.get().sync_status == SyncStatus.PENDING

    post("/events", {"eventName": "Upgraded", "email": EMAIL, "profileAttributes": {"plan": "pro"}})
    run(retries)

    assert set(Event.objects.values_list("sync_status", flat=True)) == {SyncStatus.SENT}
    assert Profile.objects.get(email=EMAIL).attributes == {"plan": "pro"}
    assert in_klaviyo(klaviyo, email=EMAIL)["properties"] == {"plan": "pro"}
    assert klaviyo.app.store.counters()["events_stored"] == 2


def test_a_change_stored_while_its_profiles_job_ran_is_sent_once_the_job_settles(
    klaviyo, post, monkeypatch
):
    """Posted while the job carrying the profile's earlier change runs, it finds the profile
    claimed; the job's settling queues it, rather than the sweeper minutes later."""
    follow_ups: list[tuple] = []
    monkeypatch.setattr(tasks, "_follow_job", lambda *args, **kwargs: follow_ups.append(args))
    people = [
        {"email": f"w{i}@example.com", "profileAttributes": {"plan": "free"}} for i in range(5)
    ]
    post("/profiles/bulk", {"profiles": people})
    post("/profiles", {"email": "w0@example.com", "profileAttributes": {"plan": "pro"}})
    assert Profile.objects.get(email="w0@example.com").sync_status == SyncStatus.PENDING
    monkeypatch.undo()  # what the settling queues runs now (eagerly)

    for job_id, carried in follow_ups:
        tasks.follow_profile_import_job(job_id, carried, 1)

    assert in_klaviyo(klaviyo, email="w0@example.com")["properties"]["plan"] == "pro"
    assert in_klaviyo(klaviyo, email="w1@example.com")["properties"]["plan"] == "free"
    assert set(Profile.objects.values_list("sync_status", flat=True)) == {SyncStatus.SENT}


def test_an_import_error_lands_on_the_profile_it_is_about(klaviyo, post):
    """Two profiles here share a phone number: ann gave it, and a profile known by it and an
    external id that Klaviyo holds on another profile. Klaviyo refuses that one in the job
    (its identifiers name two profiles): the error is its, not ann's."""
    phone = "+15005550001"
    post("/profiles", {"email": EMAIL, "profileAttributes": {"phoneNumber": phone}})
    klaviyo_import(klaviyo, {"external_id": "ext-b"})  # written in Klaviyo by someone else
    others = [{"email": f"f{i}@example.com", "profileAttributes": {"n": i}} for i in range(3)]

    post(
        "/profiles/bulk",
        {
            "profiles": [
                {"email": EMAIL, "profileAttributes": {"plan": "pro"}},
                {"profileAttributes": {"phoneNumber": phone, "externalId": "ext-b", "n": 1}},
                *others,
            ]
        },
    )

    [job] = klaviyo.app.store.jobs.values()
    assert [error["original_payload"]["external_id"] for error in job.errors] == ["ext-b"]
    ann, refused = Profile.objects.get(email=EMAIL), Profile.objects.get(external_id="ext-b")
    assert (ann.sync_status, ann.last_error) == (SyncStatus.SENT, "")
    assert in_klaviyo(klaviyo, email=EMAIL)["properties"]["plan"] == "pro"
    assert refused.sync_status == SyncStatus.FAILED
    assert refused.last_error.startswith("Klaviyo import error: ")
    assert refused.changes.exists()  # kept, to send once fixed


def test_a_phone_number_set_to_null_is_removed_here_and_in_klaviyo(klaviyo, post):
    phone = "+15005550006"
    post("/profiles", {"email": EMAIL, "profileAttributes": {"phoneNumber": phone}})
    assert in_klaviyo(klaviyo, email=EMAIL)["phone_number"] == phone

    answer = post("/profiles", {"email": EMAIL, "profileAttributes": {"phoneNumber": None}})

    assert (answer["phoneNumber"], answer["attributes"]) == (None, {})
    assert Profile.objects.get(email=EMAIL).phone_number is None
    assert "phone_number" not in in_klaviyo(klaviyo, email=EMAIL)


def test_a_phone_number_given_up_and_then_given_by_another_person_is_theirs(klaviyo, post):
    """Kept on ann in Klaviyo, bob's import would land on ann's profile there."""
    phone = "+15005550006"
    post("/profiles", {"email": EMAIL, "profileAttributes": {"phoneNumber": phone}})
    post("/profiles", {"email": EMAIL, "profileAttributes": {"phoneNumber": None}})

    post("/profiles", {"email": "bob@example.com", "profileAttributes": {"phoneNumber": phone}})

    emails = sorted(p.attributes.get("email") for p in klaviyo.app.store.profiles.values())
    assert emails == [EMAIL, "bob@example.com"]
    assert in_klaviyo(klaviyo, email="bob@example.com")["phone_number"] == phone
    assert set(Profile.objects.values_list("sync_status", flat=True)) == {SyncStatus.SENT}
