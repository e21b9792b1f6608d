"""Structured logs: one JSON object per line on stdout, with the request id of the request being
served, and secrets (the Klaviyo key, client API keys) redacted from every line as a safety net.
"""

import functools
import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

REDACTED = "[REDACTED]"
# Set by the request middleware for the duration of a request.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# The raw X-API-Key of the current request (admin-created keys are not in settings).
request_api_key_var: ContextVar[str | None] = ContextVar("request_api_key", default=None)

# Shapes of secrets even when their value is not known here: Klaviyo private keys, and the
# values of authorization headers written out in a message. One pattern, one pass per string.
SECRET_SHAPES = re.compile(
    r"(?P<klaviyo_key>\bpk_[A-Za-z0-9]{16,})"
    r"|(?P<scheme>(?i:Klaviyo-API-Key|Bearer)\s+)[^\s'\",}]+"
    r"|(?P<header>(?i:x-api-key)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"
)

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "request_id", "taskName"}
)
# Secrets shorter than this are not redacted: replacing "a" everywhere would garble every line.
MIN_SECRET_LENGTH = 6


def known_secrets() -> list[str]:
    """Values that must never be written out, longest first."""
    configured = _configured_secrets()
    key = request_api_key_var.get()
    if not key or len(key) < MIN_SECRET_LENGTH or key in configured:
        return configured
    return sorted([*configured, key], key=len, reverse=True)


@functools.cache
def _configured_secrets() -> list[str]:
    """The settings' secrets, longest first: read once, not for every line written."""
    values = [getattr(settings, "KLAVIYO_API_KEY", ""), *getattr(settings, "API_KEYS", [])]
    return sorted({v for v in values if len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


@receiver(setting_changed)
def _configured_secrets_forget(*, setting: str, **kwargs: object) -> None:
    if setting in ("KLAVIYO_API_KEY", "API_KEYS"):
        _configured_secrets.cache_clear()


def redact(text: str, secrets: list[str] | None = None) -> str:
    for secret in known_secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return SECRET_SHAPES.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    # Keep the label ("Bearer ", "x-api-key: ") so the line still says what was there.
    return (match.group("scheme") or match.group("header") or "") + REDACTED


def _redact_value(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: _redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v, secrets) for v in value]
    return value


class RedactSecretsFilter(logging.Filter):
    """Rewrites the record in place: message, extra fields and traceback, secrets replaced."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = known_secrets()
        record.msg = redact(record.getMessage(), secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
            # The formatter must use the redacted text, not format the exception again.
            record.exc_info = None
        for key in record.__dict__.keys() - RECORD_ATTRIBUTES:
            setattr(record, key, _redact_value(getattr(record, key), secrets))
        return True


class RequestIdFilter(logging.Filter):
    """Stamps every record with the id of the request being served (None outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        # The extra fields by name (a set difference, not a test of each of the record's 25
        # attributes: this runs for every request's line).
        for key in sorted(record.__dict__.keys() - RECORD_ATTRIBUTES):
            if not key.startswith("_"):
                entry[key] = record.__dict__[key]
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def logging_config(*, level: str, log_format: str) -> dict[str, Any]:
    """Django's LOGGING: every line, Django's and Celery's too, through one stdout handler, as
    JSON (`json`, for log collectors) or human-readable (`plain`), with the request id and with
    secrets redacted."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": "core.logging.JsonFormatter"},
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        },
        "filters": {
            "request_id": {"()": "core.logging.RequestIdFilter"},
            # A safety net: the Klaviyo key and client keys are replaced in every line.
            "redact_secrets": {"()": "core.logging.RedactSecretsFilter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": log_format,
                "filters": ["request_id", "redact_secrets"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Through our handler only (not Django's own), as JSON like the rest.
            "django": {"handlers": ["console"], "level": level, "propagate": False},
            # Every request already has its line; Django's "Not Found: /x" warnings would repeat it.
            "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        },
    }
