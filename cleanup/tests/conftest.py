"""Fixtures of the cleanup tests: a fixed `now`, expired and fresh data, a failing row."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from cleanup.models import PURGE_LOCK, PurgeOutcome, PurgeRun, PurgeTrigger
from events.models import Event, Profile
from events.tests.factories import EventFactory, ProfileFactory

# Half a second past the minute, so the cutoff (to the second) differs from now - 7 days.
NOW = datetime(2025, 9, 15, 10, 0, 0, 500_000, tzinfo=UTC)
CUTOFF = datetime(2025, 9, 8, 10, 0, 0, tzinfo=UTC)  # NOW - 7 days, to the second
LONG_AGO = CUTOFF - timedelta(days=3)
POISON = "Undeletable"


def days_ago(days: float) -> datetime:
    return timezone.now() - timedelta(days=days)


def profile_at(moment: datetime, **fields) -> Profile:
    """A profile last written at `moment` (as ingest leaves it: updated with its last event)."""
    return ProfileFactory(created_at=moment, updated_at=moment, **fields)


def event_at(moment: datetime, profile: Profile | None = None, **fields) -> Event:
    profile = profile or profile_at(moment)
    return EventFactory(profile=profile, email=profile.email, created_at=moment, **fields)


def running_run(*, heartbeat_age: timedelta = timedelta(seconds=1)) -> PurgeRun:
    """A purge another process is running: it holds the lock and beat recently."""
    beat = timezone.now() - heartbeat_age
    return PurgeRun.objects.create(
        trigger=PurgeTrigger.BEAT,
        retention_days=7,
        batch_size=5000,
        outcome=PurgeOutcome.RUNNING,
        running_lock=PURGE_LOCK,
        started_at=beat,
        heartbeat_at=beat,
    )


@pytest.fixture
def poisoned_delete() -> Iterator[str]:
    """A database trigger that makes deleting events named POISON fail, as a real database
    error would mid-way through a purge. Needs a transactional test (DDL commits on MySQL)."""
    name = "purge_test_poison"
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute(
                f"CREATE TRIGGER {name} BEFORE DELETE ON events_event FOR EACH ROW "
                f"BEGIN IF OLD.event_name = '{POISON}' THEN "
                "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poisoned row'; END IF; END"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER {name} BEFORE DELETE ON events_event FOR EACH ROW "
                f"WHEN OLD.event_name = '{POISON}' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
            )
    try:
        yield POISON
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
