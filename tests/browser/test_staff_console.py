"""The staff console in a real browser (headless Chromium at 1,400 px): log in, read the
dashboard's counts and charts, retry a failed event from its page and see it delivered."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from selenium.webdriver.common.by import By

from events.models import Event, SyncStatus
from events.tests.factories import EventFactory, ProfileFactory
from testkit.procs import wait_until
from tests.browser.conftest import STAFF_PASSWORD
from tests.browser.pages import log_in, screenshot, wait_for

pytestmark = pytest.mark.e2e


def seed_a_days_traffic() -> None:
    now = timezone.now()
    for hours_ago in range(0, 20, 2):
        received = now - timedelta(hours=hours_ago, minutes=5)
        EventFactory.create_batch(
            3 + hours_ago % 5,
            created_at=received,
            sync_status=SyncStatus.SENT,
            synced_at=received + timedelta(seconds=2 + hours_ago),
        )
    for email in ("ann@example", "bob@example", "cy@example"):
        EventFactory(
            sync_status=SyncStatus.FAILED,
            attempts=1,
            last_error=f"HTTP 400: Invalid input. '{email}' is not a valid email "
            "(/data/attributes/profile/data/attributes/email)",
        )
    EventFactory(
        sync_status=SyncStatus.FAILED,
        attempts=8,
        last_error="HTTP 503: Service Unavailable (gave up after 8 attempts)",
    )
    # Saved pending, the sync (in process, no key) skips them: made pending again afterwards.
    waiting = EventFactory.create_batch(2, created_at=now - timedelta(minutes=7))
    Event.objects.filter(id__in=[event.id for event in waiting]).update(
        sync_status=SyncStatus.PENDING, last_error=""
    )
    EventFactory(
        sync_status=SyncStatus.SKIPPED, last_error="Not sent: KLAVIYO_API_KEY is not configured"
    )


def test_staff_log_in_and_read_the_sync_health_dashboard(
    live_server, browser, staff_user, screenshots
):
    seed_a_days_traffic()

    log_in(browser, base_url=live_server.url, username="staff", password=STAFF_PASSWORD)
    summary = wait_for(browser, "#sync-health-summary")
    assert summary.find_element(By.CSS_SELECTOR, '[data-count="failed"]').text == "4"
    summary.find_element(By.LINK_TEXT, "Open the sync-health dashboard").click()
    wait_for(browser, "#failures")

    counts = {
        name: browser.find_element(By.CSS_SELECTOR, f'#counts [data-count="{name}"]').text
        for name in ("pending", "sent", "failed", "skipped")
    }
    assert counts == {"pending": "2", "sent": "50", "failed": "4", "skipped": "1"}
    assert browser.find_element(By.CSS_SELECTOR, '[data-figure="oldest-pending"]').text.endswith(
        "min"
    )
    for chart in ("traffic", "delay", "backlog"):
        svg = browser.find_element(By.CSS_SELECTOR, f'svg[data-chart="{chart}"]')
        assert svg.size["width"] > 300 and svg.size["height"] > 100, chart
        marks = svg.find_elements(By.CSS_SELECTOR, "rect.bar, path.line, circle.dot")
        drawn = [mark for mark in marks if mark.size["height"] > 0 or mark.size["width"] > 0]
        assert drawn, f"chart {chart} has nothing drawn"
    reasons = browser.find_elements(By.CSS_SELECTOR, "#failures tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, '[data-count="reason"]').text for row in reasons] == [
        "3",
        "1",
        "1",
    ]
    assert "is not a valid email" in reasons[0].text
    # Everything fits the 1,400 px window: no sideways scrolling.
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1400

    path = screenshot(browser, screenshots / "dashboard.png")
    assert path.stat().st_size > 10_000

    # "Show" on the largest reason: the list of those events, readable at 1,400 px.
    reasons[0].find_element(By.LINK_TEXT, "Show").click()
    rows = wait_for(browser, "#result_list").find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 3
    error = rows[0].find_element(By.CSS_SELECTOR, ".error-text")
    assert "is not a valid email" in error.get_attribute("title")  # the full text on hover
    assert rows[0].find_element(By.CSS_SELECTOR, ".status").text.lower() == "failed"
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1400
    # Every column, the last error and the sync time included, without scrolling the table.
    assert browser.execute_script(
        "const box = document.querySelector('#changelist .results');"
        "return box.scrollWidth <= box.clientWidth"
    )
    screenshot(browser, screenshots / "events-of-one-reason.png")


def test_staff_retry_a_failed_event_from_its_page_and_see_it_sent(
    live_server, browser, staff_user, screenshots, sync_stack
):
    event = EventFactory(
        event_name="Placed Order",
        profile=ProfileFactory(email="retry.me@example.com", attributes={"first_name": "Rita"}),
        event_attributes={"OrderId": "R-1", "Items": ["lamp"], "Total": 49.0},
        value=49.0,
        unique_id="order-R-1",
        sync_status=SyncStatus.FAILED,
        attempts=8,
        last_error="HTTP 503: Service Unavailable (gave up after 8 attempts)",
    )
    log_in(browser, base_url=live_server.url, username="staff", password=STAFF_PASSWORD)
    browser.get(f"{live_server.url}{reverse('admin:events_event_change', args=[event.pk])}")

    assert wait_for(browser, "#sync-status").text.lower() == "failed"
    payload = json.loads(browser.find_element(By.ID, "klaviyo-payload").text)
    assert payload["data"]["attributes"]["unique_id"] == "order-R-1"
    assert payload["data"]["attributes"]["profile"]["data"]["attributes"]["email"] == (
        "retry.me@example.com"
    )
    assert not browser.find_elements(By.CSS_SELECTOR, 'input[name="_save"]')  # read only
    screenshot(browser, screenshots / "event-failed.png")

    browser.find_element(By.CSS_SELECTOR, "#retry-form button").click()
    assert "Queued for Klaviyo" in wait_for(browser, ".messagelist").text
    wait_until(
        lambda: Event.objects.get(pk=event.pk).sync_status == SyncStatus.SENT,
        timeout=30,
        what="the retried event is sent",
    )
    browser.refresh()

    assert wait_for(browser, "#sync-status").text.lower() == "sent"
    assert not browser.find_elements(By.ID, "retry-form")
    stored = sync_stack.stored_by_unique_id()["order-R-1"]
    assert (stored.metric_name, stored.properties["OrderId"], stored.value) == (
        "Placed Order",
        "R-1",
        49.0,
    )
    screenshot(browser, screenshots / "event-sent.png")
