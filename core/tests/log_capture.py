"""Reads what the configured console handler writes, as parsed JSON lines."""

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.logging import JsonFormatter


class CapturedLines:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def raw(self) -> str:
        return self.stream.getvalue()

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.raw.splitlines() if line.strip()]

    def requests(self) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e["logger"] == "klaviyo_backend.requests"]


@contextmanager
def captured_log_lines() -> Iterator[CapturedLines]:
    """Points the settings' console handler (its filters included) at a buffer, in JSON."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    stream = io.StringIO()
    previous_stream = handler.setStream(stream)
    previous_formatter = handler.formatter
    handler.setFormatter(JsonFormatter())
    try:
        yield CapturedLines(stream)
    finally:
        handler.setFormatter(previous_formatter)
        handler.setStream(previous_stream)
