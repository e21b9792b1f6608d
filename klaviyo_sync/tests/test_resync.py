"""`manage.py resync` and the admin's resend: chosen events go back through the queue, each
keeping its unique_id, so a repeat never counts twice at Klaviyo."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from events.models import NO_KEY_MESSAGE, Event, SyncStatus
from events.tests.factories import EventFactory
from klaviyo_sync.tests.conftest import BASE

pytestmark = pytest.mark.django_db
EVENTS_URL = f"{BASE}/events"


def resync(*args: str) -> str:
    out = StringIO()
    call_command("resync", *args, stdout=out)
    return out.getvalue()


def sent_unique_ids(klaviyo) -> list[str]:
    return [
        json.loads(call.request.body)["data"]["attributes"]["unique_id"] for call in klaviyo.calls
    ]


def event(status: str, **fields) -> Event:
    extra = {"last_error": NO_KEY_MESSAGE} if status == SyncStatus.SKIPPED else {}
    return EventFactory(sync_status=status, **{**extra, **fields})


def test_it_sends_skipped_and_failed_events_again_and_leaves_the_others(klaviyo, sync_tasks):
    klaviyo.post(EVENTS_URL, status=202)
    skipped = event(SyncStatus.SKIPPED, unique_id="skipped-1")
    failed = event(SyncStatus.FAILED, attempts=8, last_error="HTTP 503 (gave up)")
    sent = event(SyncStatus.SENT)
    pending = event(SyncStatus.PENDING)

    out = resync()

    assert "Sending again 2 events (skipped 1, failed 1)" in out
    assert "2/2 events queued (100%)" in out
    assert sorted(sent_unique_ids(klaviyo)) == sorted(["skipped-1", str(failed.id)])
    assert len(sync_tasks) == 1
    for row in (skipped, failed):
        row.refresh_from_db()
        assert (row.sync_status, row.attempts, row.last_error) == (SyncStatus.SENT, 1, "")
    assert Event.objects.get(pk=sent.pk).attempts == 0
    assert Event.objects.get(pk=pending.pk).sync_status == SyncStatus.PENDING


def test_it_filters_by_metric_email_and_time_received(klaviyo):
    klaviyo.post(EVENTS_URL, status=202)
    now = timezone.now()
    chosen = event(SyncStatus.FAILED, event_name="Purchase", email="a@example.com")
    Event.objects.filter(pk=chosen.pk).update(created_at=now - timedelta(hours=2))
    other_metric = event(SyncStatus.FAILED, event_name="Page View", email="a@example.com")
    other_email = event(SyncStatus.FAILED, event_name="Purchase")
    too_old = event(SyncStatus.FAILED, event_name="Purchase", email="a@example.com")
    Event.objects.filter(pk=too_old.pk).update(created_at=now - timedelta(days=3))
    since = (now - timedelta(days=1)).isoformat()

    resync("--metric", "Purchase", "--email", " A@Example.com ", "--since", since)

    assert sent_unique_ids(klaviyo) == [str(chosen.id)]
    statuses = dict(Event.objects.values_list("id", "sync_status"))
    assert statuses[chosen.id] == SyncStatus.SENT
    assert {statuses[e.id] for e in (other_metric, other_email, too_old)} == {SyncStatus.FAILED}


def test_it_sends_sent_events_again_with_the_same_unique_id_when_asked(klaviyo):
    klaviyo.post(EVENTS_URL, status=202)
    sent = event(SyncStatus.SENT, unique_id="order-1")

    resync("--status", "sent", "--until", (timezone.now() + timedelta(minutes=1)).isoformat())
    resync("--status", "sent")

    assert sent_unique_ids(klaviyo) == ["order-1", "order-1"]
    sent.refresh_from_db()
    assert sent.sync_status == SyncStatus.SENT


def test_a_dry_run_counts_and_changes_nothing(klaviyo):
    event(SyncStatus.SKIPPED)
    event(SyncStatus.FAILED)
    event(SyncStatus.FAILED)

    out = resync("--dry-run")

    assert out.strip() == "Would send again 3 events (skipped 1, failed 2); nothing changed."
    assert len(klaviyo.calls) == 0
    assert Event.objects.filter(sync_status=SyncStatus.PENDING).count() == 0


def test_an_event_that_fails_again_is_not_taken_twice_in_one_run(klaviyo, settings):
    settings.KLAVIYO_BULK_BATCH_SIZE = 2
    body = {"errors": [{"status": 400, "title": "Invalid input.", "detail": "Bad metric."}]}
    klaviyo.post(EVENTS_URL, status=400, json=body)
    failed = [event(SyncStatus.FAILED) for _ in range(5)]

    out = resync("--status", "failed")

    assert sorted(sent_unique_ids(klaviyo)) == sorted(str(e.id) for e in failed)
    assert "5/5 events queued (100%)" in out
    assert set(Event.objects.values_list("sync_status", flat=True)) == {SyncStatus.FAILED}


def test_without_a_klaviyo_key_it_refuses_and_changes_nothing(settings):
    settings.KLAVIYO_API_KEY = ""
    skipped = event(SyncStatus.SKIPPED)

    with pytest.raises(CommandError, match="KLAVIYO_API_KEY is not configured") as raised:
        resync()

    assert raised.value.returncode == 2
    skipped.refresh_from_db()
    assert skipped.sync_status == SyncStatus.SKIPPED


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "not an ISO date"),
        (["--since", "2026-11-02", "--until", "2026-11-01"], "--since must be before --until"),
        (["--status", "pending"], "invalid choice"),
    ],
)
def test_bad_arguments_are_refused(klaviyo, args, message):
    with pytest.raises(CommandError, match=message):
        resync(*args)
