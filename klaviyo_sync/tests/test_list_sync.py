"""The worker's sending of list changes (list_add, list_remove) with Klaviyo stubbed at the
HTTP boundary: profile ids known first, found in bulk, new profiles made in one import job;
retries, permanent failures with Klaviyo's detail, and the number of requests each takes."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from events.consent_services import consent_change_create
from events.models import ConsentChange, ConsentKind, ConsentStatus, ProfileImportJob
from events.tests.factories import ProfileFactory
from klaviyo_sync import list_senders
from klaviyo_sync.consent_sync import consent_change_sync
from klaviyo_sync.tests.conftest import BASE

pytestmark = pytest.mark.django_db

LIST_ID = "Y6nRLr"
MEMBERS = f"{BASE}/lists/{LIST_ID}/relationships/profiles"
JOBS = f"{BASE}/profile-bulk-import-jobs"


def list_change(kind: str, emails: list[str]) -> ConsentChange:
    return consent_change_create(
        kind=kind, addresses=[{"email": email} for email in emails], list_id=LIST_ID
    )


def klaviyo_profiles(known: dict[str, str]):
    """GET /api/profiles answering the `any(email,[...])` filter from `known` (email -> id)."""

    def answer(request):
        expression = parse_qs(urlsplit(request.url).query)["filter"][0]
        asked = json.loads(expression[len("any(email,") : -1])
        data = [
            {"type": "profile", "id": known[email], "attributes": {"email": email}}
            for email in asked
            if email in known
        ]
        return 200, {}, json.dumps({"data": data, "links": {"next": None}})

    return answer


def member_ids(call) -> list[str]:
    return [item["id"] for item in json.loads(call.request.body)["data"]]


def test_known_klaviyo_ids_are_added_without_looking_anyone_up(klaviyo):
    ProfileFactory(email="ann@example.com", klaviyo_id="01ANN")
    ProfileFactory(email="bob@example.com", klaviyo_id="01BOB")
    change = list_change(ConsentKind.LIST_ADD, ["ann@example.com", "bob@example.com"])
    klaviyo.post(MEMBERS, status=204)

    outcome = consent_change_sync(change_id=change.id)

    assert outcome.status == "sent"
    assert len(klaviyo.calls) == 1
    assert member_ids(klaviyo.calls[0]) == ["01ANN", "01BOB"]
    change.refresh_from_db()
    assert change.status == ConsentStatus.SENT and change.last_error == ""
    assert sorted(change.profiles.values_list("klaviyo_id", flat=True)) == ["01ANN", "01BOB"]


def test_unknown_ids_are_found_a_hundred_addresses_a_request_and_recorded(klaviyo):
    emails = [f"user{i:03}@example.com" for i in range(250)]
    local = ProfileFactory(email=emails[0])
    klaviyo.add_callback(
        responses.GET,
        f"{BASE}/profiles",
        callback=klaviyo_profiles({email: f"01K{email[4:7]}" for email in emails}),
    )
    klaviyo.post(MEMBERS, status=204)
    change = list_change(ConsentKind.LIST_ADD, emails)

    outcome = consent_change_sync(change_id=change.id)

    assert outcome.status == "sent"
    methods = [call.request.method for call in klaviyo.calls]
    assert methods == ["GET", "GET", "GET", "POST"]  # 250 addresses: 3 look-ups, 1 add
    assert len(member_ids(klaviyo.calls[3])) == 250
    local.refresh_from_db()
    assert local.klaviyo_id == "01K000"
    assert change.profiles.filter(klaviyo_id__isnull=True).count() == 0


def test_profiles_klaviyo_lacks_are_made_and_added_in_one_import_job(klaviyo):
    ProfileFactory(email="new@example.com")
    made = {"ann@example.com": "01ANN"}
    klaviyo.add_callback(responses.GET, f"{BASE}/profiles", callback=klaviyo_profiles(made))
    klaviyo.post(MEMBERS, status=204)

    def job_created(request):
        made["new@example.com"] = "01NEW"  # Klaviyo makes it in the job
        job = {"type": "profile-bulk-import-job", "id": "J1", "attributes": {"status": "queued"}}
        return 202, {}, json.dumps({"data": job})

    klaviyo.add_callback(responses.POST, JOBS, callback=job_created)
    done = {"status": "complete", "failed_count": 0, "completed_count": 1}
    klaviyo.get(f"{JOBS}/J1", json={"data": {"id": "J1", "attributes": done}})
    change = list_change(ConsentKind.LIST_ADD, ["ann@example.com", "new@example.com"])

    outcome = consent_change_sync(change_id=change.id)

    assert outcome.status == "sent"
    requests = [(c.request.method, c.request.url.split("?")[0]) for c in klaviyo.calls]
    assert requests == [
        ("GET", f"{BASE}/profiles"),
        ("POST", MEMBERS),
        ("POST", JOBS),
        ("GET", f"{JOBS}/J1"),
        ("GET", f"{BASE}/profiles"),
    ]
    assert member_ids(klaviyo.calls[1]) == ["01ANN"]
    job = json.loads(klaviyo.calls[2].request.body)["data"]
    assert job["attributes"]["profiles"]["data"] == [
        {"type": "profile", "attributes": {"email": "new@example.com"}}
    ]
    assert job["relationships"]["lists"]["data"] == [{"type": "list", "id": LIST_ID}]
    change.refresh_from_db()
    assert change.klaviyo_job_ids == ["J1"]
    assert not ProfileImportJob.objects.exists()  # listed until it ended
    assert change.profiles.get(email="new@example.com").klaviyo_id == "01NEW"
    assert ProfileFactory._meta.model.objects.get(email="new@example.com").klaviyo_id == "01NEW"


def test_an_import_job_still_running_is_listed_retried_and_not_made_twice(klaviyo, monkeypatch):
    monkeypatch.setattr(list_senders, "IMPORT_WAIT_SECONDS", 0.0)
    made: dict[str, str] = {}
    klaviyo.add_callback(responses.GET, f"{BASE}/profiles", callback=klaviyo_profiles(made))
    klaviyo.post(JOBS, status=202, json={"data": {"id": "J1", "attributes": {}}})
    running = {"data": {"id": "J1", "attributes": {"status": "processing"}}}
    klaviyo.get(f"{JOBS}/J1", json=running)
    change = list_change(ConsentKind.LIST_ADD, ["new@example.com"])

    first = consent_change_sync(change_id=change.id)

    assert first.status == "retrying"
    change.refresh_from_db()
    assert change.status == ConsentStatus.PENDING
    assert "profile import job J1" in change.last_error and "processing" in change.last_error
    assert change.klaviyo_job_ids == ["J1"]
    # Listed while Klaviyo may still run it: an erasure waits for the profiles it makes.
    assert list(ProfileImportJob.objects.values_list("job_id", flat=True)) == ["J1"]
    # The job ends; the next attempt sees it ended, finds the profile it made, adds it by id.
    made["new@example.com"] = "01NEW"
    done = {"status": "complete", "failed_count": 0, "completed_count": 1}
    klaviyo.replace(responses.GET, f"{JOBS}/J1", json={"data": {"id": "J1", "attributes": done}})
    klaviyo.post(MEMBERS, status=204)
    ConsentChange.objects.filter(id=change.id).update(next_attempt_at=None)
    before = len(klaviyo.calls)

    second = consent_change_sync(change_id=change.id)

    assert second.status == "sent"
    requests = [(c.request.method, c.request.url.split("?")[0]) for c in klaviyo.calls[before:]]
    assert requests == [("GET", f"{JOBS}/J1"), ("GET", f"{BASE}/profiles"), ("POST", MEMBERS)]
    assert member_ids(klaviyo.calls[-1]) == ["01NEW"]
    assert not ProfileImportJob.objects.exists()


def test_profiles_the_import_refuses_fail_the_change_with_klaviyos_detail(klaviyo):
    klaviyo.get(f"{BASE}/profiles", json={"data": []})
    klaviyo.post(JOBS, status=202, json={"data": {"id": "J1", "attributes": {}}})
    ended = {"status": "complete", "failed_count": 1, "completed_count": 0}
    klaviyo.get(f"{JOBS}/J1", json={"data": {"id": "J1", "attributes": ended}})
    refused = {
        "type": "import-error",
        "id": "E1",
        "attributes": {
            "code": "invalid",
            "title": "Invalid input.",
            "detail": "Invalid email address",
            "original_payload": {"email": "odd@example.com"},
        },
    }
    klaviyo.get(f"{JOBS}/J1/import-errors", json={"data": [refused], "links": {"next": None}})
    change = list_change(ConsentKind.LIST_ADD, ["odd@example.com"])

    outcome = consent_change_sync(change_id=change.id)

    assert outcome.status == "failed"
    change.refresh_from_db()
    assert change.last_error == (
        "Klaviyo's profile import job J1 ended complete and refused "
        "odd@example.com: Invalid email address"
    )


def test_a_429_is_retried_and_then_sent(klaviyo):
    ProfileFactory(email="ann@example.com", klaviyo_id="01ANN")
    klaviyo.post(MEMBERS, status=429, headers={"Retry-After": "7"}, json={"errors": []})
    klaviyo.post(MEMBERS, status=204)
    change = list_change(ConsentKind.LIST_ADD, ["ann@example.com"])

    first = consent_change_sync(change_id=change.id)

    assert first.status == "retrying" and first.retry_in >= 7
    change.refresh_from_db()
    assert change.status == ConsentStatus.PENDING and change.last_error.startswith("HTTP 429")
    ConsentChange.objects.filter(id=change.id).update(next_attempt_at=None)

    second = consent_change_sync(change_id=change.id)

    assert second.status == "sent"
    change.refresh_from_db()
    assert change.attempts == 2 and change.status == ConsentStatus.SENT


def test_a_list_klaviyo_does_not_know_fails_the_change_with_its_answer(klaviyo):
    ProfileFactory(email="ann@example.com", klaviyo_id="01ANN")
    missing = {"errors": [{"status": 404, "title": "Not found.", "detail": "List not found"}]}
    klaviyo.post(MEMBERS, status=404, json=missing)
    change = list_change(ConsentKind.LIST_ADD, ["ann@example.com"])

    outcome = consent_change_sync(change_id=change.id)

    assert outcome.status == "failed"
    change.refresh_from_db()
    assert change.status == ConsentStatus.FAILED
    assert change.last_error == "HTTP 404: Not found. List not found"
    assert len(klaviyo.calls) == 1  # no profile made for a list that isn't there


def test_a_removal_removes_the_profiles_klaviyo_has_and_skips_the_rest(klaviyo):
    ProfileFactory(email="ann@example.com", klaviyo_id="01ANN")
    klaviyo.add_callback(
        responses.GET,
        f"{BASE}/profiles",
        callback=klaviyo_profiles({"bob@example.com": "01BOB"}),
    )
    klaviyo.delete(MEMBERS, status=204)
    emails = ["ann@example.com", "bob@example.com", "never@example.com"]
    change = list_change(ConsentKind.LIST_REMOVE, emails)

    outcome = consent_change_sync(change_id=change.id)

    assert outcome.status == "sent"
    assert [c.request.method for c in klaviyo.calls] == ["GET", "DELETE"]
    assert member_ids(klaviyo.calls[1]) == ["01ANN", "01BOB"]
    asked = parse_qs(urlsplit(klaviyo.calls[0].request.url).query)["filter"]
    assert asked == ['any(email,["bob@example.com","never@example.com"])']  # ann's id is known


def test_a_removal_nobody_in_klaviyo_is_part_of_only_checks_the_list(klaviyo):
    klaviyo.get(f"{BASE}/profiles", json={"data": []})
    klaviyo.get(f"{BASE}/lists", json={"data": [{"type": "list", "id": LIST_ID}]})
    change = list_change(ConsentKind.LIST_REMOVE, ["never@example.com"])

    outcome = consent_change_sync(change_id=change.id)

    assert outcome.status == "sent"
    assert [c.request.url.split("?")[0] for c in klaviyo.calls] == [
        f"{BASE}/profiles",
        f"{BASE}/lists",
    ]
    asked = parse_qs(urlsplit(klaviyo.calls[1].request.url).query)["filter"]
    assert asked == [f'equals(id,"{LIST_ID}")']


def test_a_removal_from_a_list_klaviyo_does_not_have_fails(klaviyo):
    klaviyo.get(f"{BASE}/profiles", json={"data": []})
    klaviyo.get(f"{BASE}/lists", json={"data": []})
    change = list_change(ConsentKind.LIST_REMOVE, ["never@example.com"])

    outcome = consent_change_sync(change_id=change.id)

    assert outcome.status == "failed"
    change.refresh_from_db()
    assert change.last_error == f"Klaviyo has no list {LIST_ID} (GET /api/lists)"


def test_an_id_klaviyo_no_longer_has_is_forgotten_and_looked_up_again(klaviyo):
    ann = ProfileFactory(email="ann@example.com", klaviyo_id="01OLD")  # merged away in Klaviyo
    ProfileFactory(email="bob@example.com", klaviyo_id="01BOB")
    gone = {
        "errors": [
            {
                "status": 404,
                "title": "Not found.",
                "detail": "A profile with id 01OLD does not exist.",
                "source": {"pointer": "/data/0/id"},
            }
        ]
    }
    klaviyo.post(MEMBERS, status=404, json=gone)
    klaviyo.post(MEMBERS, status=204)
    klaviyo.add_callback(
        responses.GET, f"{BASE}/profiles", callback=klaviyo_profiles({"ann@example.com": "01NEW"})
    )
    change = list_change(ConsentKind.LIST_ADD, ["ann@example.com", "bob@example.com"])

    outcome = consent_change_sync(change_id=change.id)

    assert outcome.status == "sent"
    assert [c.request.method for c in klaviyo.calls] == ["POST", "GET", "POST"]
    assert member_ids(klaviyo.calls[0]) == ["01OLD", "01BOB"]
    assert member_ids(klaviyo.calls[2]) == ["01NEW", "01BOB"]  # in the addresses' order
    ann.refresh_from_db()
    assert ann.klaviyo_id == "01NEW"
    assert change.profiles.get(email="ann@example.com").klaviyo_id == "01NEW"


def test_a_list_that_is_not_there_is_not_taken_for_stale_ids(klaviyo):
    ProfileFactory(email="ann@example.com", klaviyo_id="01ANN")
    missing = {"errors": [{"status": 404, "title": "Not found.", "source": {"pointer": "/data"}}]}
    klaviyo.delete(MEMBERS, status=404, json=missing)
    change = list_change(ConsentKind.LIST_REMOVE, ["ann@example.com"])

    outcome = consent_change_sync(change_id=change.id)

    assert outcome.status == "failed"
    assert len(klaviyo.calls) == 1
    assert ProfileFactory._meta.model.objects.get(email="ann@example.com").klaviyo_id == "01ANN"
