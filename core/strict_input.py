"""Request bodies are strict: a property the endpoint does not declare is refused, as the replaced
NestJS service refused it (class-validator's `forbidNonWhitelisted`): `property unique_id should
not exist`, a 400 in the usual error shape. A typo such as `unique_id` for `uniqueId` would
otherwise be ignored without a word, and with it the client's idempotency. Free-form objects
(eventAttributes, profileAttributes) are values, not bodies: their keys are the client's.

One mechanism for every body: `StrictInputSerializer` for DRF serializers, and
`unknown_property_errors` for the hand-written event validator, which both produce.
"""

from collections.abc import Collection
from typing import Any

from django.conf import settings
from django.core.validators import MaxLengthValidator, MinLengthValidator
from django.http import QueryDict
from rest_framework import serializers
from rest_framework.settings import api_settings

MAX_ECHOED_NAME = 40  # an unknown name quoted in the message is cut to this
# An email in a path: one segment (anything else is a 400 naming it), or an address whose local
# part holds a "/" (sent as %2F, which the path gets decoded), so that every email stored can be
# asked for; what follows its domain is another route's (/{email}/metrics).
EMAIL_PATH_REGEX = r"[^/]+|.+@[^/@]+"


def unknown_property_message(name: str) -> str:
    shown = name if len(name) <= MAX_ECHOED_NAME else name[:MAX_ECHOED_NAME] + "…"
    return f"property {shown} should not exist"


def unknown_property_errors(data: dict[str, Any], known: Collection[str]) -> list[str]:
    """One message per key of `data` not in `known`, in the order sent."""
    return [unknown_property_message(str(key)) for key in data if key not in known]


# A JSON body's value must be of the type the schema says: DRF would read 12 as "12" for a
# CharField and "12" as 12 for an IntegerField. (Field -> the JSON types it takes, its problem.)
JSON_TYPES: tuple[tuple[type[serializers.Field], tuple[type, ...], str], ...] = (
    (serializers.BooleanField, (bool,), "must be a boolean"),
    (serializers.CharField, (str,), "must be a string"),
    (serializers.ChoiceField, (str,), "must be a string"),
    (serializers.IntegerField, (int,), "must be an integer"),
    (serializers.FloatField, (int, float), "must be a number"),
)


def wrong_type_errors(data: dict[str, Any], fields: dict[str, serializers.Field]) -> dict[str, Any]:
    """{name: [problem]} for each value sent (not null) that is not of its field's JSON type."""
    errors: dict[str, Any] = {}
    for name, field in fields.items():
        value = data.get(name)
        if value is None:
            continue
        for kind, json_types, problem in JSON_TYPES:
            if isinstance(field, kind):
                # A boolean is an int to Python, not a number to JSON.
                is_bool = isinstance(value, bool)
                if not isinstance(value, json_types) or (is_bool and bool not in json_types):
                    errors[name] = [problem]
                break
    return errors


def untrimmed(fields: dict[str, serializers.Field]) -> dict[str, serializers.Field]:
    """Text taken as sent: DRF trims it by default, after which " x" passes a pattern and 128
    characters a max_length of 127, which the schema cannot say."""
    for field in fields.values():
        if isinstance(field, serializers.CharField):
            field.trim_whitespace = False
    return fields


class QueryInputSerializer(serializers.Serializer):
    """A serializer of a query string that checks every parameter sent, as sent, an empty one
    too: `?limit=` or `?until=` is a 400 like `?limit=x`, as the schema's types say. (DRF reads a
    QueryDict as an HTML form, where an empty optional field counts as not sent.) A repeated
    parameter counts with its last value."""

    json_types = False  # every value of a query string is text

    def __init__(self, instance: Any = None, data: Any = serializers.empty, **kwargs: Any):
        if isinstance(data, QueryDict):
            data = data.dict()
        super().__init__(instance, data, **kwargs)

    def get_fields(self) -> dict[str, serializers.Field]:
        return untrimmed(super().get_fields())


class StrictInputSerializer(serializers.Serializer):
    # A serializer of a request body that refuses undeclared properties, reported with any
    # other problem of the body in one 400. The schema says so of every serializer with
    # `refuses_unknown_properties` (additionalProperties: false, core/schema_hooks.py).
    # (Comments, not a docstring: that would become every such body's description.)

    refuses_unknown_properties = True
    json_types = True  # values must be of their field's JSON type (not so in a query string)
    # A body of null, a list or a number is not the object the schema says, not an empty body.
    default_error_messages = {"invalid": "body must be a JSON object"}

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if data is None:
            raise serializers.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: [self.error_messages["invalid"]]}
            )
        return super().run_validation(data)

    def get_fields(self) -> dict[str, serializers.Field]:
        return untrimmed(super().get_fields())

    def to_internal_value(self, data: Any) -> Any:
        unknown = (
            unknown_property_errors(data, {field.field_name for field in self._writable_fields})
            if isinstance(data, dict)
            else []
        )
        if isinstance(data, dict) and self.json_types:
            fields = {field.field_name: field for field in self._writable_fields}
            if wrong := wrong_type_errors(data, fields):
                if unknown:
                    wrong[api_settings.NON_FIELD_ERRORS_KEY] = unknown
                raise serializers.ValidationError(wrong)
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if unknown and isinstance(error.detail, dict):
                error.detail.setdefault(api_settings.NON_FIELD_ERRORS_KEY, []).extend(unknown)
            raise
        if unknown:
            raise serializers.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: unknown})
        return value


class BulkListField(serializers.ListField):
    """The items of a bulk request: the length checked before any item (at least one, at most
    the setting named by `limit_setting`, read when a request comes so that it is honoured as
    set), then each item by `item_validate`, errors by index. Subclasses name the child, the
    setting, the validation and the messages `empty` and `max_length`."""

    limit_setting = ""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_empty=False, **kwargs)
        # The schema's minItems and maxItems (drf-spectacular reads them off these validators);
        # to_internal_value checks both first, with the limit as set when the request comes.
        self.validators = [MinLengthValidator(1), MaxLengthValidator(self._limit())]

    def _limit(self) -> int:
        return getattr(settings, self.limit_setting)

    @staticmethod
    def item_validate(item: Any) -> dict[str, Any]:
        raise NotImplementedError

    def run_validators(self, value: Any) -> None:
        pass  # the length is checked in to_internal_value

    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        if not data:
            self.fail("empty")
        if len(data) > (limit := self._limit()):
            self.fail("max_length", max_length=limit)
        items: list[dict[str, Any]] = []
        errors: dict[int, Any] = {}
        for index, item in enumerate(data):
            try:
                items.append(self.item_validate(item))
            except serializers.ValidationError as error:
                errors[index] = error.detail
        if errors:
            raise serializers.ValidationError(errors)
        return items
