"""One path from ingest to the sync: post_save for every new event, single or bulk; the ids of a
transaction queued together once it commits, in tasks of KLAVIYO_BULK_BATCH_SIZE; saves that
give Klaviyo nothing new queue nothing."""

import pytest
from django.core import serializers
from django.db import transaction
from django.urls import reverse

from events.models import Event, SyncStatus
from events.services import event_ingest, events_ingest_bulk
from events.tests.factories import EventFactory
from klaviyo_sync import tasks

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _klaviyo_key(settings) -> None:
    """Events are stored pending (to send) only with a key; without one, skipped."""
    settings.KLAVIYO_API_KEY = "pk_test"


@pytest.fixture
def queued(monkeypatch) -> list[list[str]]:
    """The sync tasks queued, each as its list of event ids (the broker is the boundary)."""
    tasks_queued: list[list[str]] = []

    def apply_async(args, **options):
        tasks_queued.append(list(args[0]))

    monkeypatch.setattr(tasks.sync_events, "apply_async", apply_async)
    return tasks_queued


def item(n: int) -> dict:
    return {"event_name": "Purchase", "email": f"p{n}@example.com", "unique_id": f"order-{n}"}


def ids_of(results) -> list[str]:
    return [str(result.event.id) for result in results]


def test_a_bulk_ingest_queues_its_new_events_in_one_task_once_it_commits(
    queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        results = events_ingest_bulk(items=[item(n) for n in range(5)])
        assert queued == []  # nothing before the commit: a task must find its rows

    for callback in callbacks:
        callback()
    assert queued == [ids_of(results)]


def test_a_bulk_ingest_larger_than_a_klaviyo_batch_is_queued_in_batches(
    queued, settings, django_capture_on_commit_callbacks
):
    settings.KLAVIYO_BULK_BATCH_SIZE = 2

    with django_capture_on_commit_callbacks(execute=True):
        results = events_ingest_bulk(items=[item(n) for n in range(5)])

    ids = ids_of(results)
    assert queued == [ids[0:2], ids[2:4], ids[4:5]]


def test_a_repeated_unique_id_in_a_bulk_ingest_is_not_queued_again(
    queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = events_ingest_bulk(items=[item(1), item(2)])
    with django_capture_on_commit_callbacks(execute=True):
        again = events_ingest_bulk(items=[item(2), item(3), item(3)])

    assert queued == [ids_of(first), [str(again[1].event.id)]]
    assert Event.objects.count() == 3


def test_one_event_is_queued_once_its_ingest_commits(queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = event_ingest(data=item(1))
    with django_capture_on_commit_callbacks(execute=True):
        event_ingest(data=item(1))  # a repeated uniqueId stores, and queues, nothing

    assert queued == [[str(result.event.id)]]


def test_the_events_saved_in_one_transaction_go_in_one_task(
    queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        events = EventFactory.create_batch(3)

    assert queued == [[str(event.id) for event in events]]


def test_each_commit_queues_its_own_events(queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        first = EventFactory()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        second = EventFactory()

    assert queued == [[str(first.id)], [str(second.id)]]


def test_an_event_whose_savepoint_rolls_back_is_not_queued(
    queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        kept = EventFactory()
        with pytest.raises(RuntimeError), transaction.atomic():
            EventFactory()
            raise RuntimeError("rolled back")
        also_kept = EventFactory()

    assert queued == [[str(kept.id), str(also_kept.id)]]
    assert Event.objects.count() == 2


def test_a_rolled_back_transaction_queues_nothing(queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            events_ingest_bulk(items=[item(1), item(2)])
            raise RuntimeError("rolled back")
        kept = EventFactory()

    assert queued == [[str(kept.id)]]


def test_saves_that_change_nothing_klaviyo_gets_queue_nothing(
    queued, django_capture_on_commit_callbacks
):
    event = EventFactory()

    with django_capture_on_commit_callbacks(execute=True):
        event.last_error = "edited by hand"
        event.save()
        event.sync_status = SyncStatus.SENT
        event.save(update_fields=["sync_status"])
        EventFactory(sync_status=SyncStatus.SENT)  # created settled: nothing to send
        EventFactory(sync_status=SyncStatus.FAILED)

    assert queued == []


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("admin", "a@example.com", "pw"))
    return client


def test_the_admin_saves_no_event_and_queues_nothing(
    queued, staff_client, django_capture_on_commit_callbacks
):
    event = EventFactory(sync_status=SyncStatus.FAILED, last_error="HTTP 400")
    change = reverse("admin:events_event_change", args=[event.pk])

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(change, {"_save": "Save"})

    assert response.status_code == 403  # read-only pages
    assert queued == []
    assert Event.objects.get(pk=event.pk).sync_status == SyncStatus.FAILED


def test_the_admins_send_again_queues_each_failed_event_once(
    queued, staff_client, django_capture_on_commit_callbacks
):
    failed = EventFactory.create_batch(2, sync_status=SyncStatus.FAILED, last_error="HTTP 503")

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("admin:events_event_changelist"),
            {"action": "resync", "_selected_action": [str(e.pk) for e in failed]},
        )

    assert response.status_code == 302
    # The action's own task; saving the rows back to pending queues no second one.
    assert len(queued) == 1
    assert sorted(queued[0]) == sorted(str(e.pk) for e in failed)
    assert set(Event.objects.values_list("sync_status", flat=True)) == {SyncStatus.PENDING}


def test_events_loaded_from_a_fixture_are_not_queued(queued, django_capture_on_commit_callbacks):
    dumped = serializers.serialize("json", [EventFactory.build(profile=EventFactory().profile)])

    with django_capture_on_commit_callbacks(execute=True):
        for loaded in serializers.deserialize("json", dumped):
            loaded.save()  # raw, as loaddata saves

    assert queued == []
    assert Event.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_an_event_saved_outside_a_transaction_is_queued_at_once(queued):
    event = EventFactory()

    assert queued == [[str(event.id)]]


def test_events_stored_skipped_without_a_key_queue_nothing(
    queued, settings, django_capture_on_commit_callbacks
):
    settings.KLAVIYO_API_KEY = ""

    with django_capture_on_commit_callbacks(execute=True):
        results = events_ingest_bulk(items=[item(1), item(2)])
        event_ingest(data=item(3))

    assert queued == []
    assert set(Event.objects.values_list("sync_status", flat=True)) == {SyncStatus.SKIPPED}
    assert len(results) == 2
