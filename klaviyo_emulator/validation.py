"""Checks each request against Klaviyo's official OpenAPI document, with openapi-core.

The document is loaded once per process (about a second). Errors come back in Klaviyo's format,
with a JSON pointer into the body or the offending parameter.
"""

import threading
from pathlib import Path
from typing import Any

from jsonschema.exceptions import best_match
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
from openapi_core.exceptions import OpenAPIError
from openapi_core.validation.request.exceptions import (
    MissingRequestBodyError,
    ParameterValidationError,
)
from werkzeug.wrappers import Request

from klaviyo_emulator.jsonapi import error_item

# Klaviyo's own document, revision 2026-07-15, copied beside this module (origin, licence:
# openapi/SOURCE.md).
SPEC_PATH = Path(__file__).resolve().parent / "openapi" / "stable.json"
SPEC_HOST = "https://a.klaviyo.com"
MAX_DETAIL = 500

_spec_lock = threading.Lock()
_specs: dict[Path, OpenAPI] = {}


def spec_load(path: Path = SPEC_PATH) -> OpenAPI:
    """Klaviyo's OpenAPI document, parsed once per process and path: the emulator's checks and
    the tests of our own requests both read it here."""
    with _spec_lock:
        if path not in _specs:
            if not path.exists():
                raise FileNotFoundError(f"Klaviyo's OpenAPI document is not at {path}")
            # The document fails strict spec validation (a font enum example); skip that step.
            _specs[path] = OpenAPI.from_file_path(str(path), config=Config(spec_validator_cls=None))
        return _specs[path]


class _KlaviyoHostRequest(WerkzeugOpenAPIRequest):
    """The request as if sent to the spec's server, with the bare media type."""

    @property
    def host_url(self) -> str:
        return SPEC_HOST

    @property
    def path(self) -> str:
        # Klaviyo's URLs end with a slash; the document's paths do not.
        return super().path.rstrip("/") or "/"

    @property
    def content_type(self) -> str:
        return self.request.mimetype or "application/octet-stream"


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 3] + "..."


def _schema_errors(error: BaseException) -> list[Any]:
    cause = error.__cause__
    return list(getattr(cause, "schema_errors", None) or [])


def request_errors(request: Request, *, spec: OpenAPI) -> list[dict[str, Any]]:
    """Klaviyo-shaped 400 errors for everything the spec rejects in `request` (empty if valid)."""
    try:
        spec.validate_request(_KlaviyoHostRequest(request))
    except MissingRequestBodyError:
        return [error_item(400, "A request body is required.", pointer="/data")]
    except ParameterValidationError as error:
        detail = str(error)
        if nested := _schema_errors(error):
            detail = f"{detail}: {nested[0].message}"
        return [error_item(400, _shorten(detail), parameter=error.name)]
    except OpenAPIError as error:
        nested = _schema_errors(error)
        if not nested:
            return [error_item(400, _shorten(str(error)))]
        return [
            error_item(
                400,
                _shorten(_best_message(item)),
                pointer="/" + "/".join(str(part) for part in item.absolute_path),
            )
            for item in nested
        ]
    return []


def _best_message(error: Any) -> str:
    """For a oneOf/anyOf failure the useful message is in the closest sub-error."""
    if getattr(error, "context", None):
        deepest = best_match(error.context)
        if deepest is not None:
            return deepest.message
    return error.message
