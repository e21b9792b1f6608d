"""Klaviyo's filter syntax, e.g.
`equals(metric_id,"abc"),greater-or-equal(datetime,2026-11-01T00:00:00Z)`.

Conditions separated by commas (or wrapped in `and(...)`) all apply. Strings are quoted, datetimes
bare, lists in brackets. Each endpoint admits only its own fields and operators.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from klaviyo_emulator.jsonapi import ApiError


@dataclass(frozen=True)
class Condition:
    operator: str
    field: str
    value: Any


_NAME = re.compile(r"[A-Za-z_$][\w.$-]*")
_BARE = re.compile(r"[^,()\[\]\s]+")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def fail(self, why: str) -> ApiError:
        return ApiError.one(400, f"Invalid filter at {self.at}: {why}.", parameter="filter")

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.fail(f"expected {char!r}")
        self.at += 1

    def skip_spaces(self) -> None:
        while self.peek().isspace():
            self.at += 1

    def conditions(self) -> list[Condition]:
        found = self.expression()
        self.skip_spaces()
        while self.peek() == ",":
            self.at += 1
            self.skip_spaces()
            found += self.expression()
            self.skip_spaces()
        return found

    def expression(self) -> list[Condition]:
        match = _NAME.match(self.text, self.at)
        if not match:
            raise self.fail("expected an operator")
        operator = match.group()
        self.at = match.end()
        self.expect("(")
        if operator == "and":
            found = self.conditions()
            self.expect(")")
            return found
        if operator in ("or", "not"):
            raise self.fail(f"{operator}() is not supported here")
        self.skip_spaces()
        field_match = _NAME.match(self.text, self.at)
        if not field_match:
            raise self.fail("expected a field")
        self.at = field_match.end()
        value: Any = None
        self.skip_spaces()
        if self.peek() == ",":
            self.at += 1
            self.skip_spaces()
            value = self.value()
            self.skip_spaces()
        elif operator != "has":
            raise self.fail(f"{operator} needs a value")
        self.expect(")")
        return [Condition(operator, field_match.group(), value)]

    def value(self) -> Any:
        char = self.peek()
        if char in ("'", '"'):
            return self.quoted(char)
        if char == "[":
            self.at += 1
            items: list[Any] = []
            self.skip_spaces()
            while self.peek() != "]":
                items.append(self.value())
                self.skip_spaces()
                if self.peek() == ",":
                    self.at += 1
                    self.skip_spaces()
                elif self.peek() != "]":
                    raise self.fail("expected ',' or ']'")
            self.at += 1
            return items
        match = _BARE.match(self.text, self.at)
        if not match:
            raise self.fail("expected a value")
        self.at = match.end()
        return bare_value(match.group())

    def quoted(self, quote: str) -> str:
        self.at += 1
        chars: list[str] = []
        while True:
            char = self.peek()
            if not char:
                raise self.fail("unterminated string")
            self.at += 1
            if char == "\\":
                chars.append(self.peek())
                self.at += 1
            elif char == quote:
                return "".join(chars)
            else:
                chars.append(char)


def bare_value(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return text


def filter_parse(text: str | None, *, allowed: dict[str, set[str]]) -> list[Condition]:
    """Parses a `filter` parameter; `allowed` maps each field to its operators."""
    if not text:
        return []
    parser = _Parser(text)
    parser.skip_spaces()
    found = parser.conditions()
    if parser.at != len(text):
        raise parser.fail("unexpected text")
    for condition in found:
        if condition.operator not in allowed.get(condition.field, set()):
            raise ApiError.one(
                400,
                f"'{condition.operator}' is not a valid operator for field '{condition.field}'.",
                parameter="filter",
            )
    return found


def as_aware(value: Any, *, field: str, tzinfo: Any = UTC) -> datetime:
    """A filter's datetime; one without offset is read in `tzinfo`."""
    if not isinstance(value, datetime):
        raise ApiError.one(400, f"'{field}' needs an unquoted datetime.", parameter="filter")
    return value if value.tzinfo else value.replace(tzinfo=tzinfo)


def compare(operator: str, left: Any, right: Any) -> bool:
    if operator == "equals":
        return left == right
    if operator == "any":
        return left in right
    if left is None:
        return False
    if operator == "greater-than":
        return left > right
    if operator == "greater-or-equal":
        return left >= right
    if operator == "less-than":
        return left < right
    if operator == "less-or-equal":
        return left <= right
    raise ValueError(operator)


Check = tuple[str, str, Any]  # (operator, field, value)


def filter_checks(
    text: str | None, *, allowed: dict[str, set[str]], datetime_fields: set[str]
) -> list[Check]:
    """The conditions of a `filter` parameter ready to compare: datetimes made aware, `any`
    given a list, emails lowercased (Klaviyo matches emails without case)."""
    checks: list[Check] = []
    for condition in filter_parse(text, allowed=allowed):
        value = condition.value
        if condition.field in datetime_fields:
            value = as_aware(value, field=condition.field)
        elif condition.operator == "any" and not isinstance(value, list):
            raise ApiError.one(400, "any() needs a list of values.", parameter="filter")
        if condition.field == "email":
            value = [v.lower() for v in value] if isinstance(value, list) else str(value).lower()
        checks.append((condition.operator, condition.field, value))
    return checks
