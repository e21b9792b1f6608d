"""Klaviyo's lists and their members: the account's lists, adding and removing profiles (by
Klaviyo profile id), and finding the ids of many profiles by email in few requests. A part of
KlaviyoClient (its base class), kept apart to keep each file readable; every call goes through
the client's one `_call`.

Membership takes Klaviyo profile ids, not emails ("Add Profiles to List", "Remove Profiles from
List": `{"data": [{"type": "profile", "id": ...}]}`, at most 1,000 a call,
https://developers.klaviyo.com/en/reference/add_profiles_to_list). Ids are found in bulk with
`GET /api/profiles?filter=any(email,[...])` (`email: any, equals` in the operation's filter
fields; 100 a page, https://developers.klaviyo.com/en/docs/filtering_), and profiles Klaviyo
doesn't have yet are created and added to the list in one profile bulk import job
(`relationships.lists`, https://developers.klaviyo.com/en/docs/use_klaviyos_bulk_profile_import_api:
"You can also optionally add these profiles to a list"), see jobs.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from klaviyo_client import operations as ops
from klaviyo_client.limits import MAX_FILTER_CHARS, MAX_LIST_MEMBERS, MAX_PROFILES_PAGE
from klaviyo_client.query import cursor_from_link, filter_string

if TYPE_CHECKING:
    import requests


def email_filters(emails: Sequence[str]) -> Iterator[str]:
    """`any(email,[...])` filters over the emails, each matching at most one page of profiles
    and short enough for a URL."""
    literals: list[str] = []
    length = len("any(email,[])")
    for email in emails:
        literal = filter_string(email)
        if literals and (
            len(literals) == MAX_PROFILES_PAGE or length + len(literal) + 1 > MAX_FILTER_CHARS
        ):
            yield f"any(email,[{','.join(literals)}])"
            literals, length = [], len("any(email,[])")
        literals.append(literal)
        length += len(literal) + 1
    if literals:
        yield f"any(email,[{','.join(literals)}])"


def _members_body(profile_ids: Sequence[str]) -> dict[str, Any]:
    if not 1 <= len(profile_ids) <= MAX_LIST_MEMBERS:
        raise ValueError(f"a list membership call takes 1 to {MAX_LIST_MEMBERS} profile ids")
    return {"data": [{"type": "profile", "id": profile_id} for profile_id in profile_ids]}


class ListCalls:
    def _call(self, operation: ops.Operation, **kwargs: Any) -> requests.Response:
        raise NotImplementedError  # KlaviyoClient's

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        raise NotImplementedError  # KlaviyoClient's

    def lists_page(
        self,
        *,
        page_cursor: str | None = None,
        page_size: int,
        name: str | None = None,
        list_id: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of GET /api/lists (list resources: `id`, `attributes.name`, `created`,
        `updated`, `opt_in_process`) and the next page's cursor, None on the last page.
        `name` keeps only the lists of exactly that name, `list_id` the list of that id."""
        params = {"page[size]": str(page_size)}
        if page_cursor:
            params["page[cursor]"] = page_cursor
        if name is not None:
            params["filter"] = f"equals(name,{filter_string(name)})"
        elif list_id is not None:
            params["filter"] = f"equals(id,{filter_string(list_id)})"
        body = self._json(self._call(ops.GET_LISTS, params=params))
        return body.get("data") or [], cursor_from_link((body.get("links") or {}).get("next"))

    def list_profiles_add(
        self, *, list_id: str, profile_ids: Sequence[str], attempt: int = 1
    ) -> None:
        """POST /api/lists/{id}/relationships/profiles: 204; a list Klaviyo doesn't know is a
        404 (KlaviyoError)."""
        self._call(
            ops.ADD_PROFILES_TO_LIST,
            body=_members_body(profile_ids),
            attempt=attempt,
            path_id=list_id,
        )

    def list_profiles_remove(
        self, *, list_id: str, profile_ids: Sequence[str], attempt: int = 1
    ) -> None:
        """DELETE /api/lists/{id}/relationships/profiles: 204. Removing a profile from a list
        leaves its consent as it is (the operation's description)."""
        self._call(
            ops.REMOVE_PROFILES_FROM_LIST,
            body=_members_body(profile_ids),
            attempt=attempt,
            path_id=list_id,
        )

    def profile_ids_by_email(self, *, emails: Sequence[str], attempt: int = 1) -> dict[str, str]:
        """Klaviyo's profile ids of the emails it knows (lowercase email -> id): one GET
        /api/profiles per 100 addresses, asking only for the email of each."""
        ids: dict[str, str] = {}
        for expression in email_filters(sorted({email.lower() for email in emails})):
            params = {
                "filter": expression,
                "page[size]": str(MAX_PROFILES_PAGE),
                "fields[profile]": "email",
            }
            body = self._json(self._call(ops.GET_PROFILES, params=params, attempt=attempt))
            for resource in body.get("data") or []:
                email = (resource.get("attributes") or {}).get("email")
                if isinstance(email, str) and resource.get("id"):
                    ids.setdefault(email.lower(), resource["id"])
        return ids
