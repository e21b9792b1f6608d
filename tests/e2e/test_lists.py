"""Adding emails to a Klaviyo list and removing them, end to end: the API stores each request,
a real worker sends it to the emulator (Klaviyo's list endpoints, its profiles found in bulk or
made in an import job), and the emulated account ends up holding what was asked, in the order
it was asked, also when Klaviyo fails the first attempts."""

import pytest

from events.models import ConsentChange, ConsentStatus, Profile
from events.tests.factories import ProfileFactory
from testkit.klaviyo_state import list_create, list_member_emails, operations_of
from testkit.procs import wait_until

pytestmark = pytest.mark.e2e

SETTLE_TIMEOUT = 60


def changes_settled() -> bool:
    return not ConsentChange.objects.filter(status=ConsentStatus.PENDING).exists()


def wait_for_changes() -> None:
    wait_until(changes_settled, timeout=SETTLE_TIMEOUT, what="consent changes to settle")


def list_request(api_client, method: str, list_id: str, emails: list[str]) -> int:
    call = api_client.post if method == "add" else api_client.delete
    response = call(f"/lists/{list_id}/profiles", {"emails": emails}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def test_emails_are_added_to_a_list_and_removed_as_asked(sync_stack, api_client):
    emulator = sync_stack.emulator
    newsletter = list_create(emulator, "Newsletter")["id"]
    # ann is known to Klaviyo already (an earlier event); cid is a new address.
    event = {"eventName": "Signed Up", "email": "ann@example.com"}
    assert api_client.post("/events", event, format="json").status_code == 201
    sync_stack.wait_until_settled()

    added = list_request(api_client, "add", newsletter, ["ann@example.com", "cid@example.com"])
    wait_for_changes()

    assert ConsentChange.objects.get(id=added).status == ConsentStatus.SENT
    assert sorted(list_member_emails(emulator, newsletter)) == [
        "ann@example.com",
        "cid@example.com",
    ]
    assert Profile.objects.get(email="ann@example.com").klaviyo_id  # recorded on the way
    answer = api_client.get(f"/profiles/consent-changes/{added}").json()
    assert answer["status"] == "sent" and answer["sentCount"] == 2
    ann = api_client.get("/profiles/ann@example.com").json()
    assert [item["listId"] for item in ann["lists"]] == [newsletter]  # as last sent

    list_request(api_client, "remove", newsletter, ["ann@example.com", "nobody@example.com"])
    wait_for_changes()

    assert list_member_emails(emulator, newsletter) == ["cid@example.com"]
    assert api_client.get("/profiles/ann@example.com").json()["lists"] == []
    lists = api_client.get("/klaviyo/lists", {"name": "Newsletter"}).json()["lists"]
    assert [item["id"] for item in lists] == [newsletter]


def test_an_add_then_a_removal_land_in_order_when_klaviyo_fails_the_first_attempts(
    sync_stack, api_client
):
    emulator = sync_stack.emulator
    vip = list_create(emulator, "VIP")["id"]
    emulator.faults.configure({"status": 503, "count": 2})  # the first two requests fail

    list_request(api_client, "add", vip, ["dee@example.com"])
    list_request(api_client, "add", vip, ["eve@example.com"])
    removal = list_request(api_client, "remove", vip, ["dee@example.com"])
    wait_for_changes()

    assert ConsentChange.objects.get(id=removal).status == ConsentStatus.SENT
    assert list_member_emails(emulator, vip) == ["eve@example.com"]
    assert operations_of(emulator, "dee@example.com") == ["list_add", "list_remove"]
    assert ConsentChange.objects.filter(attempts__gte=2).exists()


def test_a_list_klaviyo_does_not_know_fails_the_change_with_its_reason(sync_stack, api_client):
    change_id = list_request(api_client, "add", "Zz9Zz9", ["fay@example.com"])
    wait_for_changes()

    change = ConsentChange.objects.get(id=change_id)
    assert change.status == ConsentStatus.FAILED
    assert change.last_error.startswith(("HTTP 404", "HTTP 400"))


def test_a_removal_from_a_list_klaviyo_does_not_know_fails_too(sync_stack, api_client):
    change_id = list_request(api_client, "remove", "Zz9Zz8", ["gus@example.com"])
    wait_for_changes()

    change = ConsentChange.objects.get(id=change_id)
    assert change.status == ConsentStatus.FAILED
    assert change.last_error == "Klaviyo has no list Zz9Zz8 (GET /api/lists)"


def test_a_recorded_id_klaviyo_no_longer_has_is_replaced(sync_stack, api_client):
    emulator = sync_stack.emulator
    vip = list_create(emulator, "VIP")["id"]
    hal = ProfileFactory(email="hal@example.com", klaviyo_id="01HSTALE0000000000000000000")

    change_id = list_request(api_client, "add", vip, ["hal@example.com"])
    wait_for_changes()

    assert ConsentChange.objects.get(id=change_id).status == ConsentStatus.SENT
    assert list_member_emails(emulator, vip) == ["hal@example.com"]
    hal.refresh_from_db()
    assert hal.klaviyo_id and hal.klaviyo_id != "01HSTALE0000000000000000000"
