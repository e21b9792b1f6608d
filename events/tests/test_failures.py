"""Failure reasons: one line per cause, whatever differs from event to event."""

import pytest

from events.failures import (
    failure_groups,
    failure_reason,
    failure_reasons_fill,
    reason_key,
    reason_of_key,
)
from events.models import Event, SyncStatus
from events.tests.factories import EventFactory


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            "HTTP 400: Invalid input. 'ann@example.com' is not a valid email "
            "(/data/attributes/events-bulk-create/data/3/attributes/profile)",
            "HTTP 400: Invalid input. 'bob@example.org' is not a valid email "
            "(/data/attributes/events-bulk-create/data/17/attributes/profile)",
        ),
        (
            "HTTP 503: Service Unavailable (gave up after 8 attempts)",
            "HTTP 503: Service Unavailable (gave up after 3 attempts)",
        ),
        (
            "Internal error for 0b6f3f1e-0f5c-4d55-9a57-8b0a1c2d3e4f",
            "Internal error for 7c1d2e3f-1111-4222-8333-944455556666",
        ),
        ("Not sent: ann@example.com  has no\nprofile", "Not sent: bob@x.io has no profile"),
    ],
)
def test_errors_that_differ_only_in_ids_emails_and_positions_share_a_reason(first, second):
    assert failure_reason(first) == failure_reason(second)
    assert reason_key(failure_reason(first)) == reason_key(failure_reason(second))


def test_status_codes_and_limits_stay_in_the_reason():
    assert failure_reason("HTTP 400: x") != failure_reason("HTTP 409: x")
    assert (
        failure_reason("Not sent: eventAttributes: a string is over Klaviyo's 100 KB limit")
        == "Not sent: eventAttributes: a string is over Klaviyo's 100 KB limit"
    )


def test_a_reason_is_one_short_line():
    reason = failure_reason("HTTP 400: " + "x " * 1000)

    assert len(reason) == 300
    assert reason.endswith("…")
    assert failure_reason("") == "(no error recorded)"


@pytest.mark.django_db
def test_groups_count_failed_and_skipped_events_by_reason_largest_first():
    for email in ("a@x.com", "b@x.com", "c@x.com"):
        EventFactory(sync_status=SyncStatus.FAILED, last_error=f"HTTP 400: '{email}' invalid")
    EventFactory(sync_status=SyncStatus.FAILED, last_error="HTTP 413: too large")
    EventFactory(sync_status=SyncStatus.SKIPPED, last_error="Not sent: no key")
    EventFactory(sync_status=SyncStatus.PENDING, last_error="HTTP 503: retrying")

    groups = failure_groups()

    assert [(g["status"], g["reason"], g["count"]) for g in groups] == [
        ("failed", "HTTP 400: '…' invalid", 3),
        ("failed", "HTTP 413: too large", 1),
        ("skipped", "Not sent: no key", 1),
    ]
    assert groups[0]["example"].startswith("HTTP 400: '")


@pytest.mark.django_db
def test_a_key_names_its_reason():
    EventFactory(sync_status=SyncStatus.FAILED, last_error="HTTP 400: 'a@x.com' invalid")
    EventFactory(sync_status=SyncStatus.FAILED, last_error="HTTP 413: too large")

    assert reason_of_key(key=reason_key("HTTP 400: '…' invalid")) == "HTTP 400: '…' invalid"
    assert reason_of_key(key=reason_key("HTTP 500: never seen")) is None


@pytest.mark.django_db
def test_rows_stored_without_a_reason_get_theirs():
    written_elsewhere = [
        EventFactory(sync_status=status, last_error=text, failure_reason="")
        for status, text in [
            (SyncStatus.FAILED, "HTTP 400: 'a@x.com' invalid"),
            (SyncStatus.SKIPPED, "Not sent: no key"),
            (SyncStatus.FAILED, ""),
        ]
    ]
    pending = EventFactory(sync_status=SyncStatus.PENDING, last_error="HTTP 503: retrying")

    changed = failure_reasons_fill()

    assert changed == 3
    assert [Event.objects.get(pk=e.pk).failure_reason for e in written_elsewhere] == [
        "HTTP 400: '…' invalid",
        "Not sent: no key",
        "(no error recorded)",
    ]
    assert Event.objects.get(pk=pending.pk).failure_reason == ""
    assert failure_reasons_fill() == 0
