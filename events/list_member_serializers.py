"""Input of POST and DELETE /lists/{listId}/profiles: the list's id (path) and the emails to
add or remove (body). The answer is a consent change's (events/consent_serializers.py)."""

import re

from rest_framework import serializers

from core.strict_input import StrictInputSerializer
from events.consent_serializers import AddressEmailField
from klaviyo_client.limits import LIST_ID_PATTERN, MAX_LIST_MEMBERS

LIST_ID_PROBLEM = "must be a Klaviyo list id: 6 letters or digits (see GET /klaviyo/lists)"


def list_id_check(value: str) -> str:
    """The list id of the path; a ValidationError naming listId when it can't be one."""
    if not re.fullmatch(LIST_ID_PATTERN, value):
        raise serializers.ValidationError({"listId": [LIST_ID_PROBLEM]})
    return value


class ListMembersField(serializers.ListField):
    default_error_messages = {
        "not_a_list": "must be an array of emails",
        "min_length": "must hold at least one email",
        "max_length": f"must hold at most {MAX_LIST_MEMBERS} emails",
    }


class ListMembersInputSerializer(StrictInputSerializer):
    default_error_messages = {"invalid": "must be a JSON object"}

    emails = ListMembersField(
        child=AddressEmailField(),
        min_length=1,
        max_length=MAX_LIST_MEMBERS,
        help_text=f"1 to {MAX_LIST_MEMBERS:,} emails (Klaviyo's cap per list call), lower-cased; "
        "an address given twice counts once.",
    )

    def validate_emails(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))
