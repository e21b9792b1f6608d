"""The row one ingested event makes: its fields as sent, the rest at their defaults, built
with the defaults worked out once per process (events/services.py)."""

from datetime import UTC, datetime

import pytest

import events.services as services
from events.models import Event
from events.services import event_ingest
from events.tests.test_services import item

pytestmark = pytest.mark.django_db


def test_an_ingested_event_holds_every_field_as_sent_and_the_rest_as_defaults():
    sent = item(
        email="ann@example.com",
        event_attributes={"sku": "A1"},
        profile_attributes={"plan": "vip"},
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        value=9.5,
        unique_id="k2",
        value_currency="EUR",
    )

    event = event_ingest(data=sent).event

    stored = Event.objects.get(pk=event.pk)
    for built in (event, stored):
        assert (built.event_name, built.email, built.profile.identity) == (
            "Purchase",
            "ann@example.com",
            "ann@example.com",
        )
        assert (built.event_attributes, built.profile_attributes) == (
            {"sku": "A1"},
            {"plan": "vip"},
        )
        assert (built.time, built.value, built.unique_id, built.value_currency) == (
            sent["time"],
            9.5,
            "k2",
            "EUR",
        )
        assert (built.attempts, built.failure_reason, built.synced_at) == (0, "", None)
    assert stored.created_at == event.created_at


def test_a_field_whose_default_is_made_per_event_must_be_declared_varying(monkeypatch):
    # The other columns' defaults are taken once per process: a per-row default there would
    # give every event the first one's value.
    monkeypatch.setattr(Event._meta.get_field("failure_reason"), "default", lambda: "made")
    services._event_defaults.cache_clear()
    try:
        with pytest.raises(TypeError, match="failure_reason"):
            services._event_defaults()
    finally:
        monkeypatch.undo()
        services._event_defaults.cache_clear()
