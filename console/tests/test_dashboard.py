"""The sync-health dashboard: counts, charts, failures by reason, Klaviyo and purge state."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cleanup.models import PurgeOutcome, PurgeRun, PurgeTrigger
from console.models import SyncHealthSnapshot
from console.services import sync_health_refresh
from events.consent_services import consent_change_create
from events.models import ConsentChange, SyncStatus
from events.tests.factories import EventFactory

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("console:dashboard")


def count_on(page: str, name: str) -> str:
    match = re.search(rf'data-count="{name}">([^<]*)<', page)
    assert match, f"no {name} count on the page"
    return match.group(1)


def test_the_dashboard_counts_events_by_status_and_ages_the_oldest_pending(staff_client):
    now = timezone.now()
    EventFactory.create_batch(3, sync_status=SyncStatus.SENT, synced_at=now)
    EventFactory(sync_status=SyncStatus.PENDING, created_at=now - timedelta(minutes=30))
    EventFactory(sync_status=SyncStatus.PENDING)
    EventFactory(sync_status=SyncStatus.FAILED, last_error="HTTP 400: bad")

    response = staff_client.get(DASHBOARD)

    page = response.content.decode()
    assert response.status_code == 200
    assert count_on(page, "sent") == "3"
    assert count_on(page, "pending") == "2"
    assert count_on(page, "failed") == "1"
    assert count_on(page, "skipped") == "0"
    assert re.search(r'data-figure="oldest-pending">30\.\d min<', page)
    assert SyncHealthSnapshot.objects.count() == 1


def test_the_charts_hold_the_last_days_traffic_per_hour(staff_client):
    now = timezone.now()
    received = now - timedelta(hours=2)
    EventFactory.create_batch(
        2,
        created_at=received,
        sync_status=SyncStatus.SENT,
        synced_at=received + timedelta(seconds=4),
    )
    EventFactory(created_at=now, sync_status=SyncStatus.PENDING)

    page = staff_client.get(DASHBOARD).content.decode()

    figures = SyncHealthSnapshot.objects.get().figures
    assert figures["received"][-3:] == [2, 0, 1]
    assert figures["delivered"][-3:] == [2, 0, 0]
    assert figures["delay_p50"][-3] == 4.0
    assert figures["delay_p95_day"] == 4.0
    for chart in ("traffic", "delay", "backlog"):
        svg = re.search(rf'<svg class="chart" data-chart="{chart}".*?</svg>', page, re.S)
        assert svg, f"chart {chart} missing"
    traffic = re.search(r'data-chart="traffic".*?</svg>', page, re.S).group(0)
    assert traffic.count("<rect") == 48  # 24 hours x (received, delivered)
    assert f"{received:%H}:00: 2 received" in traffic
    assert "p50 4.0 s" in page


def test_failures_are_grouped_by_reason_whatever_the_email_or_position(staff_client):
    for index, email in enumerate(["a@x.com", "b@y.org", "c@z.net"]):
        EventFactory(
            sync_status=SyncStatus.FAILED,
            last_error=f"HTTP 400: Invalid email '{email}' (/data/attributes/"
            f"events-bulk-create/data/{index}/attributes/profile)",
        )
    EventFactory(
        sync_status=SyncStatus.FAILED, last_error="HTTP 503: down (gave up after 8 attempts)"
    )
    EventFactory(
        sync_status=SyncStatus.SKIPPED, last_error="Not sent: KLAVIYO_API_KEY is not configured"
    )

    page = staff_client.get(DASHBOARD).content.decode()

    rows = re.findall(r'<tr data-reason="(\w+)">(.*?)</tr>', page, re.S)
    counts = {re.search(r'data-count="reason">(\d+)<', row).group(1): row for _, row in rows}
    assert len(rows) == 3
    assert "Invalid email &#x27;…&#x27; (/data/attributes/events-bulk-create/data/N/" in counts["3"]
    assert "Retry these" in counts["3"]
    assert "reason=" in counts["3"]


def test_retry_these_sends_again_only_the_events_of_that_reason(staff_client, settings):
    settings.KLAVIYO_API_KEY = ""  # eager sync without a key: retried events end up skipped
    bad = [
        EventFactory(sync_status=SyncStatus.FAILED, last_error=f"HTTP 400: Invalid '{n}@x.com'")
        for n in range(2)
    ]
    other = EventFactory(sync_status=SyncStatus.FAILED, last_error="HTTP 413: too big")
    key = next(
        group["key"]
        for group in sync_health_refresh().figures["failures"]
        if group["reason"].startswith("HTTP 400")
    )

    response = staff_client.post(
        reverse("console:retry"), {"status": "failed", "reason": key}, follow=True
    )

    assert response.status_code == 200
    assert "2 failed events queued for Klaviyo again." in response.content.decode()
    for event in bad:
        event.refresh_from_db()
        assert event.sync_status == SyncStatus.SKIPPED
        assert event.attempts == 0
    other.refresh_from_db()
    assert other.sync_status == SyncStatus.FAILED


def test_retry_these_refuses_an_unknown_status(staff_client):
    event = EventFactory(sync_status=SyncStatus.SENT)

    response = staff_client.post(
        reverse("console:retry"), {"status": "sent", "reason": "x"}, follow=True
    )

    assert "Nothing to retry" in response.content.decode()
    event.refresh_from_db()
    assert event.sync_status == SyncStatus.SENT


def test_a_fresh_snapshot_is_served_without_counting_the_events_again(
    staff_client, django_assert_max_num_queries
):
    EventFactory(sync_status=SyncStatus.PENDING)
    sync_health_refresh()
    EventFactory(sync_status=SyncStatus.PENDING)

    with django_assert_max_num_queries(12):
        page = staff_client.get(DASHBOARD).content.decode()

    assert count_on(page, "pending") == "1"  # the stored figures, not a new count
    assert SyncHealthSnapshot.objects.count() == 1


def test_a_stale_snapshot_is_computed_again(staff_client, settings):
    settings.DASHBOARD_REFRESH_SECONDS = 60
    sync_health_refresh()
    SyncHealthSnapshot.objects.update(taken_at=timezone.now() - timedelta(minutes=3))
    EventFactory(sync_status=SyncStatus.FAILED, last_error="x")

    page = staff_client.get(DASHBOARD).content.decode()

    assert count_on(page, "failed") == "1"
    assert SyncHealthSnapshot.objects.count() == 2


def test_the_backlog_trend_compares_with_an_hour_ago(staff_client):
    SyncHealthSnapshot.objects.create(taken_at=timezone.now() - timedelta(minutes=70), pending=5)
    EventFactory.create_batch(2, sync_status=SyncStatus.PENDING)

    page = staff_client.get(DASHBOARD).content.decode()

    assert re.search(r'data-figure="trend">-3<', page)
    assert "backlog shrinking, last hour" in page


def test_snapshots_older_than_two_days_are_dropped():
    SyncHealthSnapshot.objects.create(taken_at=timezone.now() - timedelta(days=3))

    sync_health_refresh()

    assert SyncHealthSnapshot.objects.count() == 1


def test_the_dashboard_shows_the_last_purge_and_the_next(staff_client):
    run = PurgeRun.objects.create(
        trigger=PurgeTrigger.BEAT,
        retention_days=7,
        batch_size=10,
        outcome=PurgeOutcome.SUCCEEDED,
        events_deleted=12,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )

    page = staff_client.get(DASHBOARD).content.decode()

    assert reverse("admin:cleanup_purgerun_change", args=[run.pk]) in page
    assert "Deleted 12 events" in page
    assert re.search(r"Next run</dt>\s*<dd>\d{4}-\d\d-\d\d \d\d:\d\d UTC", page)


def test_the_klaviyo_panel_says_when_no_key_is_set(staff_client, settings):
    settings.KLAVIYO_API_KEY = ""

    page = staff_client.get(DASHBOARD).content.decode()

    assert "KLAVIYO_API_KEY is not set" in page


def test_the_klaviyo_panel_shows_each_rate_limit_bucket(staff_client, settings):
    settings.KLAVIYO_RATE_LIMIT_ENABLED = True
    settings.KLAVIYO_RATE_LIMIT_REDIS_URL = ""

    page = staff_client.get(DASHBOARD).content.decode()

    for bucket in settings.KLAVIYO_RATE_LIMITS:
        assert f'data-bucket="{bucket}"' in page
    assert "0/3500 per min" in page


def test_the_dashboard_needs_a_staff_login(client):
    response = client.get(DASHBOARD)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_admin_index_opens_with_the_counts_and_a_link_to_the_dashboard(staff_client):
    EventFactory(sync_status=SyncStatus.FAILED, last_error="x")

    page = staff_client.get(reverse("admin:index")).content.decode()

    assert 'id="sync-health-summary"' in page
    assert count_on(page, "failed") == "1"
    assert f'href="{DASHBOARD}"' in page


def test_the_dashboard_counts_consent_changes_with_links_to_them(staff_client):
    for email in ("a@x.io", "b@x.io", "c@x.io"):
        consent_change_create(kind="suppress", addresses=[{"email": email}])
    ConsentChange.objects.filter(id=ConsentChange.objects.order_by("id").first().id).update(
        status="failed"
    )

    page = staff_client.get(DASHBOARD).content.decode()

    counts = re.search(r'id="consent-counts">(.*?)</p>', page, re.S).group(1)
    assert re.sub(r"<[^>]+>", "", counts) == "Consent changes: 2 pending, 1 failed, 0 sent."
    assert "/admin/events/consentchange/?status__exact=failed" in counts
