"""What the emulated Klaviyo account holds, for tests of consent and lists that run the
emulator in their own process (an `Emulator`). The shapes are the control API's
(klaviyo_emulator/consent_view.py); a test against an emulator in another process uses
`EmulatorControl(url).profiles()/history()/lists()/create_list()` for the same JSON.

    newsletter = list_create(emulator, "Newsletter")["id"]
    ... the service subscribes ann@example.com with listId=newsletter ...
    assert consent_of(emulator, "ann@example.com")["email_marketing"]["consent"] == "SUBSCRIBED"
    assert list_member_emails(emulator, newsletter) == ["ann@example.com"]
    assert operations_of(emulator, "ann@example.com") == ["subscribe", "list_add", "unsubscribe"]
"""

from typing import Any

from klaviyo_emulator import Emulator
from klaviyo_emulator.consent_view import (
    history_entries,
    list_state,
    list_states,
    profile_state,
    profile_states,
)
from klaviyo_emulator.double_opt_in import confirm
from klaviyo_emulator.store import now_utc


def consent_of(emulator: Emulator, email: str) -> dict[str, Any] | None:
    """The profile with this email (any case): consent per channel, suppressions, lists; None
    when Klaviyo holds no such profile."""
    found = profile_states(emulator.store, email=email)
    return found[0] if found else None


def history_of(emulator: Emulator, email: str) -> list[dict[str, Any]]:
    """Every consent and list change of the profile, in the order it landed."""
    return history_entries(emulator.store, email=email)


def operations_of(emulator: Emulator, email: str) -> list[str]:
    return [entry["operation"] for entry in history_of(emulator, email)]


def lists_of(emulator: Emulator) -> list[dict[str, Any]]:
    return list_states(emulator.store)


def list_member_emails(emulator: Emulator, list_id: str) -> list[str | None]:
    """The emails of the list's members, in the order they joined."""
    [found] = [state for state in lists_of(emulator) if state["id"] == list_id]
    return [member["email"] for member in found["members"]]


def list_create(
    emulator: Emulator, name: str, *, list_id: str | None = None, opt_in_process: str | None = None
) -> dict[str, Any]:
    """A list in the account, as if made in Klaviyo's UI (`list_id` to choose its id)."""
    store = emulator.store
    with store.lock:
        stored = store.lists.create(
            name=name, at=now_utc(), opt_in_process=opt_in_process, list_id=list_id
        )
        return list_state(store, stored)


def opt_in_confirm(emulator: Emulator, list_id: str, email: str) -> dict[str, Any]:
    """The person clicks the double opt-in link: their pending subscription to the list lands
    (KeyError when none is pending)."""
    profile = confirm(emulator.store, list_id, email)
    with emulator.store.lock:
        return profile_state(emulator.store, profile)
