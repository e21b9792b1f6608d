"""Klaviyo's rules that its OpenAPI schema does not encode (NOTES.md, "Size limits" and §4):
a profile needs an identifier, phone numbers are E.164, event times fall between 2000 and a year
ahead, a bulk request may not repeat a unique_id for one profile and metric, size limits."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from klaviyo_emulator.faults import Faults
from klaviyo_emulator.jsonapi import error_item
from klaviyo_emulator.store import parse_time

EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_EVENT_AHEAD = timedelta(days=365)
MAX_METRIC_NAME = 127  # "must be less than 128 characters"
MAX_PROPERTIES = 400
MAX_STRING_BYTES = 100 * 1024
MAX_NESTING = 10
MAX_ARRAY_ITEMS = 4000
MAX_BULK_EVENTS = 1000
E164 = re.compile(r"\+[1-9][0-9]{6,14}")  # fullmatch: no final newline, ASCII digits
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")  # fullmatch

Errors = list[dict[str, Any]]


def profile_errors(
    attributes: dict[str, Any],
    pointer: str,
    *,
    faults: Faults,
    has_id: bool = False,
    allow_anonymous: bool = False,
) -> Errors:
    """`pointer` points at the profile's `attributes` object."""
    errors: Errors = []
    identifiers = ["email", "phone_number", "external_id", "_kx"]
    if allow_anonymous:
        identifiers.append("anonymous_id")
    if not has_id and not any(attributes.get(name) for name in identifiers):
        errors.append(
            error_item(
                400,
                "A profile must have at least one identifier: id, " + ", ".join(identifiers) + ".",
                pointer=pointer,
            )
        )
    return errors + address_errors(attributes, pointer, faults=faults)


def address_errors(attributes: dict[str, Any], pointer: str, *, faults: Faults) -> Errors:
    """A malformed (or, by fault, rejected) email or a phone number not in E.164; `pointer`
    points at the profile's `attributes`."""
    errors: Errors = []
    email = attributes.get("email")
    if email and not EMAIL.fullmatch(email):
        errors.append(
            error_item(400, f"Invalid email address: {email}", pointer=f"{pointer}/email")
        )
    elif faults.rejects(email):
        errors.append(
            error_item(400, f"Email address rejected: {email}", pointer=f"{pointer}/email")
        )
    phone = attributes.get("phone_number")
    if phone and not E164.fullmatch(phone):
        errors.append(
            error_item(
                400,
                f"Invalid phone number format (Example of a valid format: +12345678901): {phone}",
                pointer=f"{pointer}/phone_number",
            )
        )
    return errors


def event_errors(attributes: dict[str, Any], pointer: str, *, now: datetime) -> Errors:
    """`pointer` points at the event's `attributes` object."""
    errors: Errors = []
    name = attributes["metric"]["data"]["attributes"].get("name") or ""
    if not name or len(name) > MAX_METRIC_NAME:
        errors.append(
            error_item(
                400,
                f"The metric name must be 1 to {MAX_METRIC_NAME} characters.",
                pointer=f"{pointer}/metric/data/attributes/name",
            )
        )
    raw_time = attributes.get("time")
    if raw_time is not None:
        try:
            time = parse_time(raw_time)
        except ValueError:
            time = None
        if time is None or not EARLIEST_EVENT_TIME < time <= now + LATEST_EVENT_AHEAD:
            errors.append(
                error_item(
                    400,
                    "The event time must be a datetime after 2000 and at most one year ahead.",
                    pointer=f"{pointer}/time",
                )
            )
    properties = attributes.get("properties") or {}
    if len(properties) > MAX_PROPERTIES:
        errors.append(
            error_item(
                400,
                f"An event may have at most {MAX_PROPERTIES} properties.",
                pointer=f"{pointer}/properties",
            )
        )
    if problem := _size_problem(properties, depth=1):
        errors.append(error_item(400, problem, pointer=f"{pointer}/properties"))
    return errors


def _size_problem(value: Any, *, depth: int) -> str | None:
    if isinstance(value, str):
        if len(value) * 4 > MAX_STRING_BYTES and len(value.encode()) > MAX_STRING_BYTES:
            return "A string is over 100 KB."
        return None
    if depth > MAX_NESTING and isinstance(value, dict | list):
        return f"Objects may be nested at most {MAX_NESTING} levels."
    if isinstance(value, list):
        if len(value) > MAX_ARRAY_ITEMS:
            return f"An array may have at most {MAX_ARRAY_ITEMS} items."
        children = value
    elif isinstance(value, dict):
        children = list(value.values())
    else:
        return None
    for child in children:
        if problem := _size_problem(child, depth=depth + 1):
            return problem
    return None


def bulk_duplicate_errors(entries: list[dict[str, Any]], pointer: str) -> Errors:
    """A unique_id repeated for the same profile and metric fails the whole bulk request."""
    errors: Errors = []
    seen: set[tuple[str, str, str]] = set()
    for index, entry in enumerate(entries):
        attributes = entry["attributes"]
        profile = attributes["profile"]["data"]
        identity = profile.get("id") or _first_identifier(profile["attributes"]) or f"#{index}"
        for event_index, event in enumerate(attributes["events"]["data"]):
            unique_id = event["attributes"].get("unique_id")
            if unique_id is None:
                continue
            metric = event["attributes"]["metric"]["data"]["attributes"].get("name") or ""
            key = (identity, metric, unique_id)
            if key in seen:
                errors.append(
                    error_item(
                        400,
                        f"Duplicate unique_id {unique_id!r} for the same profile and metric in "
                        "one request; no events were processed.",
                        pointer=f"{pointer}/{index}/attributes/events/data/{event_index}"
                        "/attributes/unique_id",
                    )
                )
            seen.add(key)
    return errors


def _first_identifier(attributes: dict[str, Any]) -> str | None:
    for name in ("email", "phone_number", "external_id", "_kx", "anonymous_id"):
        if value := attributes.get(name):
            return f"{name}:{str(value).lower()}"
    return None
