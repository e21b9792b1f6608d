"""Klaviyo's profile attributes and the names our clients give them: one table and one rule.

Our clients send camelCase (`firstName`, the old service's contract); Klaviyo's JSON:API spells
the same attributes snake_case (`first_name`). Either name is accepted on the way in; answers
read from Klaviyo give our clients theirs back.
"""

# Klaviyo's standard profile attributes that clients set at the top level of profileAttributes
# (spec: ProfileCreateQueryResourceObject.attributes), in Klaviyo's names.
KLAVIYO_STANDARD_ATTRIBUTES = (
    "email",
    "first_name",
    "last_name",
    "phone_number",
    "external_id",
    "organization",
    "title",
    "image",
    "locale",
)
# The keys of Klaviyo's profile `location` (spec: ProfileLocation), the same in both spellings.
LOCATION_ATTRIBUTES = frozenset(
    {
        "address1",
        "address2",
        "city",
        "country",
        "region",
        "zip",
        "timezone",
        "latitude",
        "longitude",
        "ip",
    }
)
NUMERIC_LOCATION = frozenset({"latitude", "longitude"})  # a string or a number


def camel(name: str) -> str:
    """Klaviyo's name as our clients spell it: `first_name` -> `firstName`; Klaviyo's
    `$`-prefixed names are kept as they are."""
    if name.startswith("$"):
        return name
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# A standard attribute by either of its names -> Klaviyo's name.
STANDARD_ATTRIBUTES = {camel(name): name for name in KLAVIYO_STANDARD_ATTRIBUTES} | {
    name: name for name in KLAVIYO_STANDARD_ATTRIBUTES
}
