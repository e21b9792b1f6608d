import functools
import logging
import re
import secrets
import time
from collections.abc import Callable

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from core.errors import error_response
from core.logging import request_api_key_var, request_id_var
from core.metrics import request_observe, request_route


class RequestSizeLimitMiddleware:
    """Answers 413 for an announced over-size body before anything reads it, and 411 for a
    chunked body: WSGI servers pass it on without a length and Django would read it as empty
    (a misleading "eventName is required")."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            return error_response(411, ["Send the body with a Content-Length header, not chunked"])
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, ["Content-Length header is invalid"])
        if length > settings.MAX_REQUEST_BYTES:
            return error_response(
                413, [f"Request body is larger than {settings.MAX_REQUEST_BYTES} bytes"]
            )
        return self.get_response(request)


# A client's X-Request-ID is kept when it looks like an id; anything else is replaced.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
request_logger = logging.getLogger("klaviyo_backend.requests")


class RequestLogMiddleware:
    """Gives every request an id (X-Request-ID in and out), and writes one structured log line
    per request: method, path, status, duration_ms, the API key's name, request_id. Also feeds
    the request metrics of /metrics. Outermost, so that even a 413 is logged and counted."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if REQUEST_ID_PATTERN.fullmatch(incoming) else secrets.token_hex(16)
        request.request_id = request_id
        id_token = request_id_var.set(request_id)
        key_token = request_api_key_var.set(request.META.get(settings.API_KEY_CUSTOM_HEADER))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            duration = time.perf_counter() - started
            response["X-Request-ID"] = request_id
            self._record(request, response.status_code, duration)
            return response
        except Exception:
            # Django turns exceptions into responses before they get here; this is the backstop.
            self._record(request, 500, time.perf_counter() - started)
            raise
        finally:
            request_api_key_var.reset(key_token)
            request_id_var.reset(id_token)

    def _record(self, request: HttpRequest, status: int, duration: float) -> None:
        client = getattr(request, "auth", None)
        route = request_route(request)
        request_observe(method=request.method or "", route=route, status=status, seconds=duration)
        if not request_logger.isEnabledFor(logging.INFO):
            return
        # Logger.info less its search of the stack for the caller's file and line, which no
        # format here prints (about 6% of the line's CPU, paid on every request).
        record = request_logger.makeRecord(
            request_logger.name,
            logging.INFO,
            __file__,
            0,
            "%s %s %s",
            (request.method, request.path, status),
            None,
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round(duration * 1000, 2),
                "api_key": getattr(client, "name", None),
                "request_id": request.request_id,
            },
        )
        request_logger.handle(record)


# Attributes a view's own policy leaves on the response (django-csp's decorators).
_OWN_POLICY_ATTRIBUTES = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_exempt",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
    "_csp_exempt_ro",
)


@functools.cache
def _settings_policy(report_only: bool) -> tuple[str, tuple[str, ...]]:
    """The settings' policy (or report-only one) and the path prefixes it is not sent for."""
    setting = "CONTENT_SECURITY_POLICY_REPORT_ONLY" if report_only else "CONTENT_SECURITY_POLICY"
    excluded = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
    return build_policy(report_only=report_only), tuple(excluded)


@receiver(setting_changed)
def _cached_settings_forget(*, setting: str, **kwargs: object) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _settings_policy.cache_clear()
    elif setting == "STAFF_PATHS":
        _staff_paths.cache_clear()


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the settings' policy built once rather than twice per
    response (the policy and the report-only one): that was a twentieth of a single event's
    CPU. A response with a policy of its own (django-csp's view decorators) or a page that
    used a nonce goes through django-csp's own code."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if getattr(request, "_csp_nonce", None) is not None or any(
            name in response.__dict__ for name in _OWN_POLICY_ATTRIBUTES
        ):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:
            return response  # django-csp leaves Django's debug pages alone
        for header, report_only in ((HEADER, False), (HEADER_REPORT_ONLY, True)):
            policy, excluded = _settings_policy(report_only)
            if policy and header not in response and not request.path_info.startswith(excluded):
                response[header] = policy
        # As django-csp does: a nonce asked for after the header went out is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response


class StaffPagesOnly:
    """For a middleware that serves the pages staff open in a browser (settings.STAFF_PATHS:
    admin, the console, the home page) and nothing else: API clients send X-API-Key, never a
    cookie. On an API request, sessions, users and messages cost a sixteenth of a single
    event's CPU for nothing."""

    get_response: Callable[[HttpRequest], HttpResponseBase]

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if _staff_paths().match(request.path_info):
            return super().__call__(request)  # type: ignore[misc]
        return self.get_response(request)


@functools.cache
def _staff_paths() -> re.Pattern[str]:
    return re.compile(settings.STAFF_PATHS)


class StaffSessionMiddleware(StaffPagesOnly, SessionMiddleware):
    pass


class StaffAuthenticationMiddleware(StaffPagesOnly, AuthenticationMiddleware):
    pass


class StaffMessageMiddleware(StaffPagesOnly, MessageMiddleware):
    pass
