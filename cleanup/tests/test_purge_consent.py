"""The purge and consent records: an expired profile goes even when consent changes name it,
and the record of what was asked for that address stays."""

import pytest

from cleanup.models import PurgeOutcome, PurgeTrigger
from cleanup.services import purge_expired_data
from cleanup.tests.conftest import LONG_AGO, NOW, profile_at
from events.consent_services import consent_change_create
from events.models import ConsentChangeProfile, Profile

pytestmark = pytest.mark.django_db


def test_an_expired_profile_goes_and_its_consent_record_stays():
    profile = profile_at(LONG_AGO)
    Profile.objects.filter(id=profile.id).update(email="ann@example.com")
    change = consent_change_create(kind="suppress", addresses=[{"email": "ann@example.com"}])
    assert change.profiles.get().profile_id == profile.id

    run = purge_expired_data(trigger=PurgeTrigger.COMMAND, now=NOW)

    assert run.outcome == PurgeOutcome.SUCCEEDED
    assert run.profiles_deleted == 1
    assert not Profile.objects.exists()
    address = ConsentChangeProfile.objects.select_related("profile").get()
    assert (address.email, address.profile) == ("ann@example.com", None)
