"""The JSON parser of every endpoint: DRF's, stricter about input that would otherwise be
silently altered or crash further down."""

import json
import re
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# An escaped UTF-16 surrogate (\ud800-\udfff); raw surrogate bytes fail UTF-8 decoding already.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Which of two values would win differs between parsers; refusing is the only safe answer.
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"duplicate key {duplicate!r}")
    return result


class StrictJSONParser(JSONParser):
    """Refuses (400) duplicate keys, NaN/Infinity, nesting deeper than Python can parse and
    lone surrogates (no database can store them), besides what DRF's parser refuses."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
            data = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
        except RecursionError as error:
            raise ParseError("JSON parse error - nested too deeply") from error
        except (ValueError, LookupError) as error:
            raise ParseError(f"JSON parse error - {error}") from error
        if SURROGATE_ESCAPE.search(text):
            try:
                json.dumps(data, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError as error:
                raise ParseError(
                    "JSON parse error - a \\u escape encodes half a character (lone surrogate)"
                ) from error
        return data
