"""Erasure requests in admin, in a real browser (headless Chromium at 1,400 px): staff filter the
failed ones, read Klaviyo's error, retry one and see it sent (a real worker, the Klaviyo
emulator), after which the list shows only the identifier's SHA-256."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from events.models import ErasureRequest, ErasureStatus
from testkit.procs import wait_until
from tests.browser.conftest import STAFF_PASSWORD
from tests.browser.pages import log_in, screenshot, wait_for

pytestmark = pytest.mark.e2e
REFUSAL = "HTTP 503: Service Unavailable (gave up after 8 attempts)"
LIST = reverse("admin:events_erasurerequest_changelist")


def stored_without_a_send(email: str, **fields) -> ErasureRequest:
    """A request as the worker left it (bulk_create: no post_save, so nothing is queued)."""
    digest = hashlib.sha256(email.encode()).hexdigest()
    identifier = "" if fields.get("status") == ErasureStatus.SENT else email
    [row] = ErasureRequest.objects.bulk_create(
        [
            ErasureRequest(
                identifier_kind="email",
                identifier=identifier,
                identifier_sha256=digest,
                **fields,
            )
        ]
    )
    return row


def test_staff_find_a_failed_erasure_and_retry_it(
    live_server, browser, staff_user, screenshots, sync_stack
):
    failed = stored_without_a_send(
        "ann@example.com", status=ErasureStatus.FAILED, attempts=8, last_error=REFUSAL
    )
    stored_without_a_send("bob@example.com", status=ErasureStatus.SENT, attempts=1)
    log_in(browser, base_url=live_server.url, username="staff", password=STAFF_PASSWORD)
    browser.get(f"{live_server.url}{LIST}")
    wait_for(browser, "#result_list")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == 2
    assert "bob@example.com" not in browser.find_element(By.ID, "result_list").text
    assert not browser.find_elements(By.CSS_SELECTOR, ".object-tools .addlink")  # read only

    browser.find_element(By.LINK_TEXT, "Failed").click()  # the status filter
    wait_for(browser, "#result_list")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 1
    assert "ann@example.com" in rows[0].text
    assert rows[0].find_element(By.CSS_SELECTOR, ".error-text").get_attribute("title") == REFUSAL
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1400
    screenshot(browser, screenshots / "erasures-failed.png")

    rows[0].find_element(By.CSS_SELECTOR, "input.action-select").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("retry")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    assert "1 erasures queued for Klaviyo again." in wait_for(browser, ".messagelist").text

    wait_until(
        lambda: ErasureRequest.objects.get(id=failed.id).status == ErasureStatus.SENT,
        timeout=30,
        what="the retried erasure is sent",
    )
    browser.get(f"{live_server.url}{LIST}?status__exact=sent")
    wait_for(browser, "#result_list")
    table = browser.find_element(By.ID, "result_list").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == 2
    assert "ann@example.com" not in table
    assert "sha256:" + hashlib.sha256(b"ann@example.com").hexdigest()[:16] in table
    [job] = sync_stack.emulator.store.deletion_jobs
    assert job.identifier == {"email": "ann@example.com"}
    screenshot(browser, screenshots / "erasures-sent.png")
