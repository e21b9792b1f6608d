"""Rows whose JSON column is decoded in one go read exactly as the queryset reads them."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.db import rows_with_json_last
from events.models import Profile, ProfileChange
from events.tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

PATCHES = [
    {"firstName": "Åsa", "city": "Zürich ✓"},
    {"plan": None, "score": 3.5, "tags": ["a", "b"], "nested": {"deep": {"n": 1}}},
    {},
    {"quote": 'she said "hi"\n', "big": 12345678901234567890},
]


def test_the_json_column_of_every_row_reads_as_the_field_reads_it() -> None:
    profile = ProfileFactory()
    for patch in PATCHES:
        ProfileChange.objects.create(profile=profile, attributes=patch)
    waiting = ProfileChange.objects.order_by("id").values_list("profile_id", "id", "attributes")

    with CaptureQueriesContext(connection) as queries:
        rows = rows_with_json_last(waiting)

    assert rows == list(waiting)
    assert [patch for _, _, patch in rows] == PATCHES
    assert len(queries) == 1


def test_no_rows_read_as_none() -> None:
    ProfileChange.objects.create(profile=ProfileFactory(), attributes={"n": 1})
    none_match = ProfileChange.objects.filter(profile__email="nobody@example.com")
    none_can_match = ProfileChange.objects.filter(id__in=[])  # Django sends no query

    with CaptureQueriesContext(connection) as queries:
        assert rows_with_json_last(none_match.values_list("id", "attributes")) == []
        assert rows_with_json_last(none_can_match.values_list("id", "attributes")) == []
    assert len(queries) == 1


def test_a_row_without_json_text_reads_as_the_field_reads_it() -> None:
    with_change, without = ProfileFactory(), ProfileFactory()
    ProfileChange.objects.create(profile=with_change, attributes={"n": 1})
    # A profile without changes: NULL in the joined column, not JSON text.
    joined = Profile.objects.order_by("id").values_list("id", "changes__attributes")

    assert rows_with_json_last(joined) == [(with_change.id, {"n": 1}), (without.id, None)]
