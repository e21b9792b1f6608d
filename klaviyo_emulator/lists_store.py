"""Lists and their members, as a Klaviyo account keeps them: a list has an id (6 characters,
like `Y6nRLr`), a name (names may repeat, Klaviyo does not make them unique), an opt-in
process, and its members with the time each joined (`joined_group_at`). Adding a member who is
already in the list changes nothing; membership never changes consent ("To add someone to a list
without changing their subscription status, use Add Profile to List", spec of
bulk_subscribe_profiles; "Removing a profile from a list will not impact the profile's consent",
spec of remove_profiles_from_list).
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from klaviyo_emulator import ids
from klaviyo_emulator.history import History

SINGLE_OPT_IN = "single_opt_in"
DOUBLE_OPT_IN = "double_opt_in"
# "If not provided, uses account default" (ListCreateQuery.opt_in_process): the emulated
# account's default is single opt-in, so subscribing adds to a list at once.
ACCOUNT_DEFAULT_OPT_IN = SINGLE_OPT_IN


@dataclass(slots=True)
class StoredList:
    id: str
    name: str
    opt_in_process: str
    created: datetime
    updated: datetime
    members: dict[str, datetime] = field(default_factory=dict)  # profile id -> joined_group_at
    # profile id -> a double opt-in subscription waiting for confirmation (double_opt_in.py)
    pending: dict[str, Any] = field(default_factory=dict)


class ListBook:
    """Callers hold the store's lock."""

    def __init__(self, history: History) -> None:
        self.history = history
        self.lists: dict[str, StoredList] = {}
        self.of_profile: dict[str, set[str]] = {}

    def create(
        self,
        *,
        name: str,
        at: datetime,
        opt_in_process: str | None = None,
        list_id: str | None = None,
    ) -> StoredList:
        if list_id is None:
            list_id = ids.list_id()
            while list_id in self.lists:
                list_id = ids.list_id()
        elif list_id in self.lists:
            raise ValueError(f"a list with id {list_id} exists")
        stored = StoredList(
            id=list_id,
            name=name,
            opt_in_process=opt_in_process or ACCOUNT_DEFAULT_OPT_IN,
            created=at,
            updated=at,
        )
        self.lists[list_id] = stored
        return stored

    def add(
        self,
        list_id: str,
        profile_id: str,
        *,
        at: datetime,
        endpoint: str,
        identifiers: dict[str, Any],
    ) -> bool:
        stored = self.lists[list_id]
        if profile_id in stored.members:
            return False
        stored.members[profile_id] = at
        stored.updated = at
        self.of_profile.setdefault(profile_id, set()).add(list_id)
        self.history.record(
            profile_id=profile_id,
            operation="list_add",
            list_id=list_id,
            endpoint=endpoint,
            at=at,
            identifiers=identifiers,
        )
        return True

    def remove(
        self,
        list_id: str,
        profile_id: str,
        *,
        at: datetime,
        endpoint: str,
        identifiers: dict[str, Any],
    ) -> bool:
        stored = self.lists[list_id]
        if stored.members.pop(profile_id, None) is None:
            return False
        stored.updated = at
        self.of_profile.get(profile_id, set()).discard(list_id)
        self.history.record(
            profile_id=profile_id,
            operation="list_remove",
            list_id=list_id,
            endpoint=endpoint,
            at=at,
            identifiers=identifiers,
        )
        return True

    def lists_of(self, profile_id: str) -> list[str]:
        """The ids of the profile's lists, in the order the lists were created."""
        mine = self.of_profile.get(profile_id, set())
        return [list_id for list_id in self.lists if list_id in mine]
