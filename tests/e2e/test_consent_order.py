"""Consent changes reach Klaviyo (the emulator) in the order they were made for each address,
through several real Celery worker processes, while the emulator fails the first attempts of
both kinds: four alternating subscribes and unsubscribes for each of five people."""

import pytest

from events.models import ConsentChange, ConsentStatus
from testkit.klaviyo_state import consent_of, list_create, operations_of
from testkit.procs import wait_until
from testkit.stack import SyncStack

pytestmark = pytest.mark.e2e
PEOPLE = [f"person{n}@example.com" for n in range(5)]
ROUNDS = ["subscriptions", "unsubscriptions", "subscriptions", "unsubscriptions"]


@pytest.fixture
def workers(transactional_db, broker, celery_producer, emulator):
    stack = SyncStack.start(broker=broker, emulator=emulator, concurrency=3)
    yield stack
    stack.stop_worker()


def test_each_persons_changes_land_in_order_across_retries_and_workers(workers, api_client):
    emulator = workers.emulator
    newsletter = list_create(emulator, "Newsletter", list_id="Y6nRLr")["id"]
    emulator.app.faults.configure(
        {"status": 503, "count": 3, "operation": "bulk_subscribe_profiles"}
    )
    emulator.app.faults.configure(
        {"status": 429, "count": 2, "retry_after": 1, "operation": "bulk_unsubscribe_profiles"}
    )

    for path in ROUNDS:
        for email in PEOPLE:
            body = {"channels": ["email"], "profiles": [{"email": email}]}
            if path == "subscriptions":
                body["listId"] = newsletter
            response = api_client.post(f"/profiles/{path}", body, format="json")
            assert response.status_code == 202, response.content

    wait_until(
        lambda: not ConsentChange.objects.filter(status=ConsentStatus.PENDING).exists(),
        timeout=120,
        interval=0.2,
        what="every consent change leaves pending",
    )

    assert set(ConsentChange.objects.values_list("status", flat=True)) == {"sent"}
    assert ConsentChange.objects.filter(attempts__gt=1).exists()  # the faults did bite
    for email in PEOPLE:
        landed = [op for op in operations_of(emulator, email) if op.endswith("subscribe")]
        assert landed == ["subscribe", "unsubscribe", "subscribe", "unsubscribe"], email
        assert consent_of(emulator, email)["email_marketing"]["consent"] == "UNSUBSCRIBED"
