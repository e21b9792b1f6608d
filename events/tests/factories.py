import factory
from django.utils import timezone

from events.models import Event, Profile


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
