"""A process's publisher: single events are queued by a thread of the process, those of
SYNC_QUEUE_WINDOW_MS together in one task, never by the request; bulk requests are queued at
once, each in its own task; nothing is lost when the broker refuses."""

import threading
import time

import pytest
from celery import current_app

from events.models import Event, SyncStatus
from events.services import event_ingest, events_ingest_bulk
from klaviyo_sync import tasks
from klaviyo_sync.receivers import PUBLISHER_MAX_BATCH, events_publisher

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _through_a_broker(settings):
    """As in production: a Klaviyo key (events pending), tasks for a broker, not run eagerly."""
    settings.KLAVIYO_API_KEY = "pk_test"
    settings.SYNC_QUEUE_WINDOW_MS = 50
    current_app.conf.task_always_eager = False
    yield
    events_publisher.flush()  # nothing of this test's left for the next
    current_app.conf.task_always_eager = True  # as the root conftest has it


@pytest.fixture
def queued(monkeypatch) -> list[tuple[list[str], str]]:
    """The sync tasks queued (the broker is the boundary): ids, and the thread that queued."""
    tasks_queued: list[tuple[list[str], str]] = []

    def apply_async(args, **options):
        tasks_queued.append((list(args[0]), threading.current_thread().name))

    monkeypatch.setattr(tasks.sync_events, "apply_async", apply_async)
    return tasks_queued


def item(n: int) -> dict:
    return {"event_name": "Purchase", "email": f"p{n}@example.com", "unique_id": f"order-{n}"}


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)


def test_single_events_are_queued_together_by_the_publisher_within_the_window(
    queued, django_capture_on_commit_callbacks
):
    started = time.monotonic()
    ids = []
    for n in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            ids.append(str(event_ingest(data=item(n)).event.id))
    assert queued == []  # the requests queued nothing themselves

    wait_for(lambda: sum(len(task) for task, _ in queued) == 3)

    assert [thread for _, thread in queued] == ["klaviyo-sync-publisher"] * len(queued)
    assert sorted(event_id for task, _ in queued for event_id in task) == sorted(ids)
    assert len(queued) < 3  # several events in one task
    assert time.monotonic() - started < 2  # within the window, not at a sweep


def test_bulk_requests_are_queued_at_once_each_in_its_own_task(
    queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = events_ingest_bulk(items=[item(n) for n in range(2)])
    with django_capture_on_commit_callbacks(execute=True):
        second = events_ingest_bulk(items=[item(n) for n in range(2, PUBLISHER_MAX_BATCH + 2)])

    assert queued == [
        ([str(result.event.id) for result in first], "MainThread"),
        ([str(result.event.id) for result in second], "MainThread"),
    ]


def test_with_no_window_each_commit_queues_its_own_events_at_once(
    queued, settings, django_capture_on_commit_callbacks
):
    settings.SYNC_QUEUE_WINDOW_MS = 0

    with django_capture_on_commit_callbacks(execute=True):
        first = event_ingest(data=item(1))
    with django_capture_on_commit_callbacks(execute=True):
        second = event_ingest(data=item(2))

    assert queued == [([str(first.event.id)], "MainThread"), ([str(second.event.id)], "MainThread")]


@pytest.mark.django_db(transaction=True)
def test_events_the_broker_refuses_are_marked_due_for_the_sweeper(monkeypatch, caplog):
    def apply_async(args, **options):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.sync_events, "apply_async", apply_async)

    event = event_ingest(data=item(1)).event  # answered: committed, handed to the publisher
    wait_for(lambda: Event.objects.filter(requeue_at__isnull=False).exists())

    stored = Event.objects.get()
    assert stored.id == event.id
    assert stored.sync_status == SyncStatus.PENDING
    assert stored.requeue_at is not None  # the next sweep queues it
    assert "Could not queue the Klaviyo sync of 1 events" in caplog.text
