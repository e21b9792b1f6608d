import factory
from django.utils import timezone

from events.failures import FAILURE_STATUSES, failure_reason
from events.models import Event, Profile, SyncStatus


class ProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Profile

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    identity = factory.SelfAttribute("email")
    attributes = factory.LazyFunction(dict)


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    event_name = "Purchase"
    profile = factory.SubFactory(ProfileFactory)
    email = factory.SelfAttribute("profile.email")
    event_attributes = factory.LazyFunction(lambda: {"amount": 10})
    time = factory.LazyFunction(timezone.now)
    sync_status = SyncStatus.PENDING
    last_error = ""
    # As the sync writes it: beside the error of a failed or skipped event.
    failure_reason = factory.LazyAttribute(
        lambda event: (
            failure_reason(event.last_error) if event.sync_status in FAILURE_STATUSES else ""
        )
    )
