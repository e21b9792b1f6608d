"""An erasure through a real worker and the Klaviyo emulator: the person's events reach Klaviyo,
then DELETE /profiles/{email} removes them here and, through the deletion job, there; a failure
of Klaviyo is retried; a person never stored here is still erased in Klaviyo."""

import hashlib

import pytest

from events.models import ErasureRequest, Event, Profile
from testkit.procs import wait_until

pytestmark = pytest.mark.e2e


def post_event(api_client, email: str, unique_id: str) -> None:
    body = {"eventName": "Placed Order", "email": email, "uniqueId": unique_id, "value": 5}
    assert api_client.post("/events", body, format="json").status_code == 201


def erased(api_client, email: str) -> dict:
    response = api_client.delete(f"/profiles/{email}")
    assert response.status_code == 202, response.content
    return response.json()


def wait_until_sent(api_client, erasure_id: str) -> dict:
    def answer() -> dict:
        return api_client.get(f"/profiles/erasures/{erasure_id}").json()

    wait_until(lambda: answer()["status"] != "pending", timeout=45, what="the erasure is sent")
    return answer()


def test_an_erasure_removes_the_person_here_and_in_klaviyo(sync_stack, api_client):
    for index in range(3):
        post_event(api_client, "ann@example.com", f"ann-{index}")
    post_event(api_client, "bob@example.com", "bob-0")
    sync_stack.wait_until_settled()
    store = sync_stack.emulator.store
    assert len(store.events) == 4

    accepted = erased(api_client, "ann@example.com")
    final = wait_until_sent(api_client, accepted["id"])

    assert (accepted["deletedEvents"], accepted["deletedProfiles"]) == (3, 1)
    assert (final["status"], final["attempts"], final["lastError"]) == ("sent", 1, "")
    assert final["sentAt"] is not None
    assert [event.unique_id for event in store.events] == ["bob-0"]
    emails = [profile.attributes.get("email") for profile in store.profiles.values()]
    assert emails == ["bob@example.com"]
    [job] = store.deletion_jobs
    assert job.identifier == {"email": "ann@example.com"}
    assert list(Event.objects.values_list("unique_id", flat=True)) == ["bob-0"]
    assert list(Profile.objects.values_list("email", flat=True)) == ["bob@example.com"]
    row = ErasureRequest.objects.get()
    assert row.identifier == ""
    assert row.identifier_sha256 == hashlib.sha256(b"ann@example.com").hexdigest()


def test_a_failed_deletion_job_is_retried_and_an_unknown_person_still_erased(
    sync_stack, api_client
):
    sync_stack.emulator.faults.configure(
        {"status": 503, "count": 1, "path": "/api/data-privacy-deletion-jobs"}
    )

    accepted = erased(api_client, "nobody@example.com")
    final = wait_until_sent(api_client, accepted["id"])

    assert (accepted["deletedEvents"], accepted["deletedProfiles"]) == (0, 0)
    assert (final["status"], final["attempts"]) == ("sent", 2)
    [job] = sync_stack.emulator.store.deletion_jobs
    assert job.identifier == {"email": "nobody@example.com"}
    assert ErasureRequest.objects.get().identifier == ""
