"""Queueing a sync task while the broker does not answer: the caller (an API request that has
stored its events) gets False within seconds and a logged reason, never a hang of minutes; the
events are marked due, for the first sweep after the broker is back."""

import logging
import time
from uuid import uuid4

import pytest
from django.utils import timezone

from events.models import Event
from events.tests.factories import EventFactory
from klaviyo_sync.tasks import queue_event_sync
from testkit.procs import producer_on, silent_port, unanswered_port

pytestmark = pytest.mark.django_db

# Two connection attempts of 1 s (CELERY_BROKER_TRANSPORT_OPTIONS, publish retry policy),
# with room for a slow machine. Without the connect timeout, each attempt waited for the
# system's own (about 130 s on Linux): a bound that tells a hang from an answer.
NO_HANG_SECONDS = 10


def test_it_gives_up_within_seconds_when_the_broker_does_not_answer(caplog):
    caplog.set_level(logging.WARNING, logger="klaviyo_sync.tasks")
    event = EventFactory(sync_status="sent")  # saved with nothing queued
    Event.objects.filter(pk=event.pk).update(sync_status="pending")
    with unanswered_port() as port, producer_on(f"redis://127.0.0.1:{port}/0"):
        started = time.monotonic()
        queued = queue_event_sync([str(event.id), str(uuid4())])
        took = time.monotonic() - started

    assert queued is False
    assert took < NO_HANG_SECONDS
    event.refresh_from_db()
    assert event.requeue_at is not None and event.requeue_at <= timezone.now()
    [record] = caplog.records
    assert record.getMessage().startswith("Could not queue the Klaviyo sync of 2 events")
    assert "Timeout connecting" in record.getMessage()


def test_it_gives_up_within_seconds_when_an_open_connection_goes_silent(caplog):
    # Connected, but no reply ever comes: without a read timeout, a quarter of an hour.
    caplog.set_level(logging.WARNING, logger="klaviyo_sync.tasks")
    with silent_port() as port, producer_on(f"redis://127.0.0.1:{port}/0"):
        started = time.monotonic()
        queued = queue_event_sync([str(uuid4())])
        took = time.monotonic() - started

    assert queued is False
    # At most two replies awaited 5 s each (socket_timeout), with the same room.
    assert took < 2 * NO_HANG_SECONDS
    [record] = caplog.records
    assert record.getMessage().startswith("Could not queue the Klaviyo sync of 1 events")
    assert "Timeout" in record.getMessage()
