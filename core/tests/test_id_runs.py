"""Sets of ids as runs of consecutive ids, and `field__among=` querying them as `__in` would."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.id_runs import IdRuns
from events.models import Profile, ProfileChange
from events.tests.factories import ProfileFactory


def test_ids_become_sorted_runs_without_repeats() -> None:
    runs = IdRuns([7, 3, 4, 5, 5, 10, 9, 1])

    assert runs.as_list() == [[1, 1], [3, 5], [7, 7], [9, 10]]
    assert list(runs) == [1, 3, 4, 5, 7, 9, 10]
    assert len(runs) == 7
    assert [n in runs for n in (0, 1, 2, 4, 6, 10, 11, "4")] == [
        False, True, False, True, False, True, False, False,
    ]  # fmt: skip
    assert not IdRuns()
    assert IdRuns([5, 3, 4, 4]).as_list() == [[3, 5]]  # one run, a repeat in it


def test_the_list_form_reads_back_as_the_same_set() -> None:
    runs = IdRuns(range(100, 10_100))

    assert runs.as_list() == [[100, 10_099]]
    assert IdRuns.from_list(runs.as_list()) == runs
    assert IdRuns.from_list([["3", "4"]]) == IdRuns([3, 4])  # JSON that came as text
    with pytest.raises(ValueError):
        IdRuns.from_list([["1", "x"]])


def test_the_list_form_read_in_any_order_makes_the_set_of_its_ids() -> None:
    pairs = [[10, 12], [1, 3], [4, 5], [2, 2], [20, 19], [11, 15]]

    assert IdRuns.from_list(pairs) == IdRuns([*range(1, 6), *range(10, 16)])
    assert IdRuns.from_list(pairs).as_list() == [[1, 5], [10, 15]]


@pytest.mark.django_db
def test_among_finds_the_rows_in_finds() -> None:
    ids = [ProfileFactory().id for _ in range(12)]
    wanted = [ids[0], *ids[2:7], ids[8], ids[9], ids[11]]  # runs of 1, 5, 2 and 1

    found = Profile.objects.filter(id__among=wanted).values_list("id", flat=True)
    inside = Profile.objects.filter(id__in=wanted).values_list("id", flat=True)

    assert sorted(found) == sorted(inside) == sorted(wanted)
    assert sorted(
        Profile.objects.exclude(id__among=IdRuns(wanted)).values_list("id", flat=True)
    ) == [
        ids[1],
        ids[7],
        ids[10],
    ]
    assert not Profile.objects.filter(id__among=[]).exists()
    assert Profile.objects.filter(id__among=[]).update(attempts=1) == 0


@pytest.mark.django_db
def test_among_on_a_foreign_key_says_a_run_as_one_range() -> None:
    profiles = [ProfileFactory() for _ in range(5)]
    for profile in profiles:
        ProfileChange.objects.create(profile=profile, attributes={"n": profile.id})
    ids = [profile.id for profile in profiles]

    with CaptureQueriesContext(connection) as queries:
        found = list(ProfileChange.objects.filter(profile_id__among=ids).values_list("profile_id"))

    assert sorted(pid for (pid,) in found) == ids
    (sql,) = [query["sql"] for query in queries.captured_queries]
    assert f"BETWEEN {ids[0]} AND {ids[-1]}" in sql
