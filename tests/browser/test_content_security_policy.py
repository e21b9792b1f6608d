"""The Content-Security-Policy in a real browser (headless Chromium): the API docs, admin and the
staff console work under it, and the browser reports no violation of it on any of them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from events.tests.factories import EventFactory
from tests.browser.conftest import STAFF_PASSWORD
from tests.browser.pages import log_in, wait_for

pytestmark = pytest.mark.e2e

# Runs before any script of each page (a DevTools hook, which the page's policy doesn't govern):
# collects what the policy blocked.
VIOLATION_WATCH = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture
def watched(browser):
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": VIOLATION_WATCH})
    return browser


def violations(browser) -> list[str]:
    return browser.execute_script("return window.cspViolations")


def inline_scripts(browser) -> int:
    """Script elements with code in the page (JSON data blocks aside): the policy would block
    them, so there must be none."""
    return browser.execute_script(
        "return [...document.querySelectorAll('script:not([src])')]"
        ".filter((s) => !s.type.includes('json')).length"
    )


def test_the_api_docs_work_under_the_policy(live_server, watched):
    watched.get(f"{live_server.url}/api")
    wait_for(watched, ".opblock")  # Swagger UI ran, fetched the schema and drew the operations

    assert violations(watched) == []
    assert inline_scripts(watched) == 0

    watched.get(f"{live_server.url}/api/redoc")
    wait_for(watched, ".redoc-wrap [data-section-id]")  # Redoc drew the operations

    # Redoc's "API docs by Redocly" footer links its logo from Redocly's CDN: blocked on
    # purpose (the docs load nothing from elsewhere), and the page works without it.
    assert set(violations(watched)) <= {"img-src https://cdn.redoc.ly/redoc/logo-mini.svg"}
    assert inline_scripts(watched) == 0


def test_admin_and_the_staff_console_work_under_the_policy(live_server, watched, staff_user):
    event = EventFactory()
    log_in(watched, base_url=live_server.url, username="staff", password=STAFF_PASSWORD)
    pages = {
        "admin index": (reverse("admin:index"), "#site-name"),
        "events list": (reverse("admin:events_event_changelist"), "#result_list"),
        "an event": (reverse("admin:events_event_change", args=[event.pk]), "#content"),
        "sync-health dashboard": (reverse("console:dashboard"), "#failures"),
    }
    for name, (path, landmark) in pages.items():
        watched.get(f"{live_server.url}{path}")
        wait_for(watched, landmark)
        assert inline_scripts(watched) == 0, name
        assert violations(watched) == [], name
