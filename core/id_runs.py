"""Sets of row ids as runs of consecutive ids, and the `among` lookup that queries them.

The rows of one bulk request get consecutive auto-increment ids, so the 10,000 profiles (and
their changes) of a sync batch are usually one run or a few. `field__among=ids` says so in SQL:
one BETWEEN per run and the lone ids in one IN of integer literals, built in a few
milliseconds. Django's `__in` prepares, escapes and sends every id as a parameter: measured on
a 10,000-profile bulk import job, that was most of the worker's CPU, and the database
optimises a 10,000-value IN list into 10,000 single-row ranges where one range does.
`IdRuns.as_list()` is the same set as JSON for a task's arguments (a pair per run).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, Lookup

# A run this long or longer is written as a BETWEEN, shorter ones join the IN list.
RUN_AS_RANGE = 3


class IdRuns:
    """A set of integer ids, held as sorted, disjoint runs [first, last]."""

    __slots__ = ("runs",)

    def __init__(self, ids: Iterable[int] = ()) -> None:
        values = sorted(set(map(int, ids)))
        self.runs: list[tuple[int, int]] = []
        if not values:
            return
        first = last = values[0]
        for value in values:
            if value > last + 1:
                self.runs.append((first, last))
                first = value
            last = value
        self.runs.append((first, last))

    @classmethod
    def from_list(cls, pairs: Iterable[Iterable[Any]]) -> IdRuns:
        """The set `as_list()` wrote (each bound checked to be an integer), run by run: a
        job's 10,000 ids are not expanded one by one to be joined again."""
        merged = cls()
        runs = merged.runs
        for first, last in sorted((int(first), int(last)) for first, last in pairs):
            if first > last:
                continue  # an empty run
            if runs and first <= runs[-1][1] + 1:
                runs[-1] = (runs[-1][0], max(last, runs[-1][1]))
            else:
                runs.append((first, last))
        return merged

    def as_list(self) -> list[list[int]]:
        return [[first, last] for first, last in self.runs]

    def __iter__(self) -> Iterator[int]:
        for first, last in self.runs:
            yield from range(first, last + 1)

    def __len__(self) -> int:
        return sum(last - first + 1 for first, last in self.runs)

    def __bool__(self) -> bool:
        return bool(self.runs)

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int):
            return False
        index = bisect_right(self.runs, (value, float("inf"))) - 1
        return index >= 0 and self.runs[index][1] >= value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdRuns) and self.runs == other.runs

    def __repr__(self) -> str:
        return f"IdRuns({self.as_list()})"


class Among(Lookup):
    """`field__among=ids` (an IdRuns or any iterable of integers): the field is one of them."""

    lookup_name = "among"
    prepare_rhs = False

    def get_prep_lookup(self) -> IdRuns:
        return self.rhs if isinstance(self.rhs, IdRuns) else IdRuns(self.rhs)

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, params = self.process_lhs(compiler, connection)
        ranges: list[str] = []
        singles: list[int] = []
        for first, last in self.rhs.runs:  # integers (IdRuns made them so): safe as literals
            if last - first + 1 >= RUN_AS_RANGE:
                ranges.append(f"{lhs} BETWEEN {first} AND {last}")
            else:
                singles += range(first, last + 1)
        if singles:
            ranges.append(f"{lhs} IN ({','.join(map(str, singles))})")
        if not ranges:
            raise EmptyResultSet
        sql = ranges[0] if len(ranges) == 1 else "(" + " OR ".join(ranges) + ")"
        return sql, list(params) * len(ranges)


Field.register_lookup(Among)
ForeignObject.register_lookup(Among)  # its lookups are its own, not Field's
