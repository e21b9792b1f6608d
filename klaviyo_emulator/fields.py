"""Which attribute names Klaviyo takes per resource, read from its OpenAPI document once.

The schemas are loose (no `additionalProperties: false`, NOTES.md §1), yet Klaviyo refuses a
name it does not know, e.g. `'lastName' is not a valid field for the resource 'profile'.`
(Klaviyo's 400 for a camelCase attribute; the same for a misspelt `value_curency`). Custom data
goes in `properties`, whose keys are free.
"""

import json
from functools import cache
from pathlib import Path
from typing import Any

from klaviyo_emulator.jsonapi import error_item
from klaviyo_emulator.validation import SPEC_PATH

EVENT_PROFILE = "EventProfileCreateQueryResourceObject"  # meta inside attributes (2026-07-15)
BULK_PROFILE = "OnsiteProfileCreateQueryResourceObject"  # meta beside attributes
PROFILE_IMPORT = "ProfileUpsertQueryResourceObject"
PROFILE_UPDATE = "ProfilePartialUpdateQueryResourceObject"
EVENT = "EventCreateQueryV2ResourceObject"
BULK_EVENT = "BaseEventCreateQueryBulkEntryResourceObject"
LOCATION = "ProfileLocation"


@cache
def _all_names(path: Path = SPEC_PATH) -> dict[str, frozenset[str]]:
    """Every schema's attribute names, from the document read once and then let go: kept
    whole, its 9,000 containers were scanned at each full garbage collection of the process
    (which an import of 100,000 profiles runs several times)."""
    with path.open(encoding="utf-8") as spec:
        schemas = json.load(spec)["components"]["schemas"]
    found = {}
    for schema, node in schemas.items():
        attributes = node.get("properties", {}).get("attributes", node)
        if "$ref" in attributes:
            attributes = schemas[attributes["$ref"].rsplit("/", 1)[-1]]
        if isinstance(attributes.get("properties"), dict):
            found[schema] = frozenset(attributes["properties"])
    return found


def names(schema: str) -> frozenset[str]:
    """The attribute names of a resource object schema (or the properties of a plain one)."""
    return _all_names()[schema]


@cache
def names_but_meta(schema: str) -> frozenset[str]:
    """The attribute names of a resource whose `meta` goes beside its attributes."""
    return names(schema) - {"meta"}


def invalid_field(name: str, resource: str, pointer: str) -> dict[str, Any]:
    return error_item(
        400,
        f"'{name}' is not a valid field for the resource '{resource}'.",
        pointer=f"{pointer}/{name}",
    )


def unknown_field_errors(
    attributes: dict[str, Any],
    *,
    allowed: frozenset[str],
    resource: str,
    pointer: str,
) -> list[dict[str, Any]]:
    """One error per attribute name Klaviyo does not take, and per unknown location key."""
    location = attributes.get("location")
    if allowed.issuperset(attributes) and (
        not isinstance(location, dict) or names(LOCATION).issuperset(location)
    ):
        return []  # the usual case, checked at C speed (a bulk import job has 10,000 of them)
    errors = [invalid_field(name, resource, pointer) for name in attributes if name not in allowed]
    if isinstance(location, dict):
        errors += [
            invalid_field(name, "location", f"{pointer}/location")
            for name in location
            if name not in names(LOCATION)
        ]
    return errors
