"""drf-spectacular postprocessing hooks (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]): what the
OpenAPI document must say of every operation, derived from the code rather than written per
endpoint, so that endpoints added later say it too. Each hook takes and returns the document.

- `strict_bodies`: a request body whose serializer refuses unknown properties
  (`refuses_unknown_properties`, core.strict_input) says `additionalProperties: false`, and
  what its validator checks across fields (`openapi_extra`, e.g. an `anyOf`); a body that
  can't be empty is `required`.
- `server_errors`: the errors the HTTP server gives any request, in the error shape
  (klaviyo_backend/gunicorn_config.py): 414 and 431 everywhere; 408 and 413 where there is a body.
- `email_path_parameters`: a path's `{email}` is an email of at most 254 characters with an
  ASCII local part, as every view that takes one checks.
- `links`: OpenAPI links from what a POST answers to the operations that take it as a path
  parameter (`POST /events` -> `GET /events/{id}`), for stateful testing and for readers.
- `security_once`: each operation's security requirement listed once.
"""

import re
from typing import Any

from core.http_limits import (
    LIMIT_REQUEST_FIELD_SIZE,
    LIMIT_REQUEST_FIELDS,
    LIMIT_REQUEST_LINE,
)

ERROR_REF = {"$ref": "#/components/schemas/Error"}
MAX_EMAIL = 254
# Django's EmailValidator takes a local part of ASCII only (the domain may be international).
# The domain as Django's EmailValidator (which the views apply) takes it: localhost, an address
# literal, or dotted labels ending in a top-level domain of 2 to 63 letters or a punycode one
# (non-ASCII labels are punycode to Django: any run of them passes).
_LABEL = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?|[^\x00-\x7F\s@.]+)"
_TLD = r"(?:[A-Za-z][A-Za-z-]{0,61}[A-Za-z]|xn--[A-Za-z0-9]{1,59}|[^\x00-\x7F\s@.]{2,63})"
EMAIL_PATTERN = rf"^[!-~]+@(?:localhost|\[[^\s@\]]+\]|(?:{_LABEL}\.)+{_TLD})$"
SUCCESS = ("200", "201", "202")
METHODS = ("get", "put", "patch", "delete", "post")


def _operations(result: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in result.get("paths", {}).items()
        for method, operation in item.items()
        if method in METHODS
    ]


def strict_bodies(result: dict[str, Any], generator: Any, **_: Any) -> dict[str, Any]:
    schemas = result.get("components", {}).get("schemas", {})
    for (name, kind), component in generator.registry._components.items():
        serializer = component.object
        if kind != "schemas" or name not in schemas or not name.endswith("Request"):
            continue
        if getattr(serializer, "refuses_unknown_properties", False):
            schemas[name]["additionalProperties"] = False
        schemas[name].update(getattr(serializer, "openapi_extra", {}))
    # A body that must say something (required properties, or one of several) can't be left out.
    for _path, _method, operation in _operations(result):
        body = operation.get("requestBody", {})
        schema = body.get("content", {}).get("application/json", {}).get("schema", {})
        ref = schema.get("$ref")
        component = schemas.get(ref.rsplit("/", 1)[-1], {}) if ref else schema  # or inline
        if component.get("required") or component.get("anyOf") or component.get("oneOf"):
            body["required"] = True
    return result


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def server_errors(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    line = f"{LIMIT_REQUEST_LINE:,}"
    answers = {
        "414": _error(
            f"The request line (method, path and query) is over {line} bytes: answered by the "
            "HTTP server."
        ),
        "431": _error(
            f"More than {LIMIT_REQUEST_FIELDS} header fields, or one over "
            f"{LIMIT_REQUEST_FIELD_SIZE:,} bytes: answered by the HTTP server."
        ),
    }
    body_answers = {
        "408": _error("The body did not arrive within REQUEST_BODY_TIMEOUT_SECONDS."),
        "413": _error("The body is over MAX_REQUEST_BYTES."),
    }
    for _path, _method, operation in _operations(result):
        responses = operation.setdefault("responses", {})
        extra = {**answers, **(body_answers if "requestBody" in operation else {})}
        for status, answer in extra.items():
            responses.setdefault(status, answer)
    return result


def email_path_parameters(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    for _path, _method, operation in _operations(result):
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "path" and parameter.get("name") == "email":
                parameter["schema"] = {
                    "type": "string",
                    "format": "email",
                    "maxLength": MAX_EMAIL,
                    "pattern": EMAIL_PATTERN,
                }
    return result


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _response_properties(result: dict[str, Any], response: dict[str, Any]) -> set[str]:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = result["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return set(schema.get("properties", {}))


def _collection(path: str) -> str:
    return re.sub(r"\{[^}]+\}/?$", "", path)


def links(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """A POST's answer holding a property named as another operation's only path parameter
    (or its camelCase: run_id <- runId) links to that operation. `id` is a different thing in
    each collection: it links only within the POST's own (/events/ -> /events/{id}/)."""
    operations = _operations(result)
    targets = []
    for path, _method, operation in operations:
        parameters = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        if len(parameters) == 1 and "operationId" in operation:
            targets.append((path, parameters[0], operation["operationId"]))
    for source_path, method, operation in operations:
        if method != "post":
            continue
        for status, response in operation.get("responses", {}).items():
            if status not in SUCCESS:
                continue
            properties = _response_properties(result, response)
            for path, parameter, operation_id in targets:
                field = parameter if parameter in properties else _camel(parameter)
                if field not in properties or (field == "id" and _collection(path) != source_path):
                    continue
                response.setdefault("links", {})[operation_id] = {
                    "operationId": operation_id,
                    "parameters": {parameter: f"$response.body#/{field}"},
                }
    return result


def security_once(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    for _path, _method, operation in _operations(result):
        if "security" in operation:
            unique = []
            for requirement in operation["security"]:
                if requirement not in unique:
                    unique.append(requirement)
            operation["security"] = unique
    return result
