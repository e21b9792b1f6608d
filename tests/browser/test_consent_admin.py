"""Consent changes in admin, in a real browser (headless Chromium at 1,400 px): staff filter the
failed ones, read Klaviyo's error and the addresses a change carried, retry it and see it sent
(a real worker, the Klaviyo emulator)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from events.models import ConsentChange, ConsentChangeProfile, ConsentStatus
from testkit.klaviyo_state import operations_of
from testkit.procs import wait_until
from tests.browser.conftest import STAFF_PASSWORD
from tests.browser.pages import log_in, screenshot, wait_for

pytestmark = pytest.mark.e2e
REFUSAL = "HTTP 503: Service Unavailable (gave up after 8 attempts)"


def stored_without_a_send(kind: str, emails: list[str], **fields) -> ConsentChange:
    """A change as the sync left it (bulk_create: no post_save, so nothing is queued)."""
    ConsentChange.objects.bulk_create(
        [ConsentChange(kind=kind, profile_count=len(emails), **fields)]
    )
    change = ConsentChange.objects.order_by("-id").first()
    ConsentChangeProfile.objects.bulk_create(
        [ConsentChangeProfile(change=change, email=email) for email in emails]
    )
    return change


def test_staff_find_a_failed_consent_change_read_it_and_retry_it(
    live_server, browser, staff_user, screenshots, sync_stack
):
    failed = stored_without_a_send(
        "suppress",
        ["ann@example.com", "bob@example.com"],
        status=ConsentStatus.FAILED,
        attempts=8,
        last_error=REFUSAL,
    )
    stored_without_a_send(
        "subscribe",
        ["cy@example.com"],
        channels=["email", "sms"],
        list_id="Y6nRLr",
        status=ConsentStatus.SENT,
        attempts=1,
    )
    log_in(browser, base_url=live_server.url, username="staff", password=STAFF_PASSWORD)
    browser.get(f"{live_server.url}{reverse('admin:events_consentchange_changelist')}")
    wait_for(browser, "#result_list")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == 2

    browser.find_element(By.LINK_TEXT, "Failed").click()  # the status filter
    wait_for(browser, "#result_list")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 1
    assert "Suppress" in rows[0].text
    assert rows[0].find_element(By.CSS_SELECTOR, ".error-text").get_attribute("title") == REFUSAL
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1400
    screenshot(browser, screenshots / "consent-changes-failed.png")

    rows[0].find_element(By.CSS_SELECTOR, "th a").click()  # the change's page
    wait_for(browser, "#content")
    page = browser.find_element(By.ID, "content").text
    assert "ann@example.com" in page and "bob@example.com" in page
    assert REFUSAL in page
    assert not browser.find_elements(By.CSS_SELECTOR, 'input[name="_save"]')  # read only
    screenshot(browser, screenshots / "consent-change.png")

    browser.back()
    wait_for(browser, "#result_list")
    browser.find_element(By.CSS_SELECTOR, "#result_list tbody input.action-select").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("retry")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    assert "1 consent changes queued for Klaviyo again." in wait_for(browser, ".messagelist").text

    wait_until(
        lambda: ConsentChange.objects.get(id=failed.id).status == ConsentStatus.SENT,
        timeout=30,
        what="the retried consent change is sent",
    )
    browser.get(
        f"{live_server.url}{reverse('admin:events_consentchange_changelist')}?status__exact=sent"
    )
    wait_for(browser, "#result_list")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == 2
    assert operations_of(sync_stack.emulator, "ann@example.com") == ["suppress"]
