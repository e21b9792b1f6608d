"""The emulator's WSGI application: Klaviyo's endpoints under /api and a control API under
/_emulator.

Each /api request goes through what Klaviyo checks, in order: route, `Authorization`
(401), `revision` (400: malformed, or not a revision Klaviyo serves), JSON:API content type
(415), body size (413), rate limit (429 + Retry-After), injected faults, JSON parsing and the
OpenAPI document (400), then the endpoint's own rules. Answers other than 429 carry
RateLimit-Limit/Remaining/Reset.
"""

import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from klaviyo_emulator import (
    consent_reads,
    consent_writes,
    erasure,
    list_endpoints,
    profile_reads,
    reads,
    writes,
)
from klaviyo_emulator.context import HandlerContext
from klaviyo_emulator.control import control_response
from klaviyo_emulator.faults import FaultedStatus, Faults
from klaviyo_emulator.jsonapi import JSON_API, ApiError, errors_document
from klaviyo_emulator.ratelimit import Decision, FixedWindowLimiter
from klaviyo_emulator.revisions import revision_problem
from klaviyo_emulator.store import Store
from klaviyo_emulator.validation import SPEC_PATH, request_errors, spec_load

DEFAULT_API_KEY = "pk_emulator"
REVISION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[A-Za-z0-9_-]+)?$")
WRITE_METHODS = ("POST", "PATCH", "DELETE")  # DELETE .../relationships/... carries a body
MAX_BODY_BYTES = 5 * 1024 * 1024
# Smaller per-operation limits from the spec's descriptions.
BODY_LIMITS = {"create_or_update_profile": 100 * 1024}

Handler = Callable[[HandlerContext], Response]
ROUTES: list[tuple[str, str, str, Handler]] = [
    ("/api/events/", "POST", "create_event", writes.create_event),
    ("/api/events/", "GET", "get_events", reads.get_events),
    ("/api/event-bulk-create-jobs/", "POST", "bulk_create_events", writes.bulk_create_events),
    ("/api/profile-import/", "POST", "create_or_update_profile", writes.create_or_update_profile),
    ("/api/profile-bulk-import-jobs/", "POST", "bulk_import_profiles", writes.bulk_import_profiles),
    (
        "/api/profile-bulk-import-jobs/<job_id>/",
        "GET",
        "get_bulk_import_profiles_job",
        reads.get_bulk_import_profiles_job,
    ),
    (
        "/api/profile-bulk-import-jobs/<id>/import-errors/",
        "GET",
        "get_errors_for_bulk_import_profiles_job",
        reads.get_errors_for_bulk_import_profiles_job,
    ),
    ("/api/metrics/", "GET", "get_metrics", reads.get_metrics),
    ("/api/metrics/<id>/", "GET", "get_metric", reads.get_metric),
    ("/api/profiles/", "GET", "get_profiles", profile_reads.get_profiles),
    ("/api/profiles/<id>/", "GET", "get_profile", profile_reads.get_profile),
    ("/api/profiles/<id>/", "PATCH", "update_profile", writes.update_profile),
    ("/api/metric-aggregates/", "POST", "query_metric_aggregates", reads.query_metric_aggregates),
    ("/api/accounts/", "GET", "get_accounts", reads.get_accounts),
    (
        "/api/data-privacy-deletion-jobs/",
        "POST",
        "request_profile_deletion",
        erasure.request_profile_deletion,
    ),
    (
        "/api/profile-subscription-bulk-create-jobs/",
        "POST",
        "bulk_subscribe_profiles",
        consent_writes.bulk_subscribe_profiles,
    ),
    (
        "/api/profile-subscription-bulk-delete-jobs/",
        "POST",
        "bulk_unsubscribe_profiles",
        consent_writes.bulk_unsubscribe_profiles,
    ),
    (
        "/api/profile-suppression-bulk-create-jobs/",
        "POST",
        "bulk_suppress_profiles",
        consent_writes.bulk_suppress_profiles,
    ),
    (
        "/api/profile-suppression-bulk-create-jobs/<job_id>/",
        "GET",
        "get_bulk_suppress_profiles_job",
        consent_reads.get_bulk_suppress_profiles_job,
    ),
    (
        "/api/profile-suppression-bulk-delete-jobs/",
        "POST",
        "bulk_unsuppress_profiles",
        consent_writes.bulk_unsuppress_profiles,
    ),
    (
        "/api/profile-suppression-bulk-delete-jobs/<job_id>/",
        "GET",
        "get_bulk_unsuppress_profiles_job",
        consent_reads.get_bulk_unsuppress_profiles_job,
    ),
    ("/api/lists/", "GET", "get_lists", list_endpoints.get_lists),
    ("/api/lists/", "POST", "create_list", list_endpoints.create_list),
    ("/api/lists/<id>/", "GET", "get_list", list_endpoints.get_list),
    (
        "/api/lists/<id>/relationships/profiles/",
        "GET",
        "get_profile_ids_for_list",
        list_endpoints.get_profile_ids_for_list,
    ),
    (
        "/api/lists/<id>/relationships/profiles/",
        "POST",
        "add_profiles_to_list",
        list_endpoints.add_profiles_to_list,
    ),
    (
        "/api/lists/<id>/relationships/profiles/",
        "DELETE",
        "remove_profiles_from_list",
        list_endpoints.remove_profiles_from_list,
    ),
    (
        "/api/lists/<id>/profiles/",
        "GET",
        "get_profiles_for_list",
        list_endpoints.get_profiles_for_list,
    ),
]
HANDLERS: dict[str, Handler] = {operation: handler for _, _, operation, handler in ROUTES}


@dataclass
class EmulatorConfig:
    api_key: str = DEFAULT_API_KEY
    validate: bool = True  # check requests against the OpenAPI document
    validate_sample: int = 1  # validate every Nth request (1: all); only for benchmarks
    rate_limits: bool = True
    rate_limit_scale: float = 1.0  # multiplies every published limit
    spec_path: Path = SPEC_PATH

    def __post_init__(self) -> None:
        if self.validate_sample < 1:
            raise ValueError("validate_sample must be at least 1")
        if self.rate_limit_scale <= 0:
            raise ValueError("rate_limit_scale must be positive")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class EmulatorApp:
    def __init__(self, config: EmulatorConfig | None = None, *, faults: Faults | None = None):
        self.config = config or EmulatorConfig()
        self.store = Store()
        self.faults = faults or Faults()
        self.limiter = FixedWindowLimiter(
            enabled=self.config.rate_limits, scale=self.config.rate_limit_scale
        )
        self.spec = spec_load(self.config.spec_path) if self.config.validate else None
        self._requests_seen = 0
        self._count_lock = threading.Lock()
        self.url_map = Map(
            [
                Rule(path, methods=[method], endpoint=operation)
                for path, method, operation, _ in ROUTES
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        if request.path.startswith("/_emulator/"):
            response = control_response(self, request)
        else:
            response = self.api_response(request)
        return response(environ, start_response)

    def reset(self) -> None:
        self.store.reset()
        self.faults.clear()
        self.limiter.reset()

    def configure(self, switches: dict[str, Any]) -> None:
        """Runtime switches: rate_limits, rate_limit_scale, validate, validate_sample."""
        config = EmulatorConfig(
            api_key=self.config.api_key,
            validate=bool(switches.get("validate", self.config.validate)),
            validate_sample=int(switches.get("validate_sample", self.config.validate_sample)),
            rate_limits=bool(switches.get("rate_limits", self.config.rate_limits)),
            rate_limit_scale=float(switches.get("rate_limit_scale", self.config.rate_limit_scale)),
            spec_path=self.config.spec_path,
        )
        if config.validate and self.spec is None:
            self.spec = spec_load(config.spec_path)
        self.config = config
        self.limiter.enabled = config.rate_limits
        self.limiter.scale = config.rate_limit_scale

    # --- the Klaviyo API ------------------------------------------------------------------

    def api_response(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            # Klaviyo answers with or without the trailing slash.
            rule, args = adapter.match(request.path.rstrip("/") + "/", return_rule=True)
        except NotFound:
            return errors_document(ApiError.one(404, f"No endpoint at {request.path}."))
        except MethodNotAllowed:
            return errors_document(
                ApiError.one(405, f"Method {request.method} is not allowed at {request.path}.")
            )
        operation = rule.endpoint
        endpoint = f"{request.method} {rule.rule}"
        with self.store.lock:
            self.store.requests_by_endpoint[endpoint] += 1
        started = time.perf_counter()
        decision: Decision | None = None
        try:
            self._check_headers(request, operation)
            decision = self.limiter.hit(operation)
            if not decision.allowed:
                with self.store.lock:
                    self.store.rate_limited += 1
                response = self._throttled(decision.retry_after)
            elif fault := self.faults.take(
                request.path, after_processing=False, operation=operation
            ):
                response = self._fault(fault)
            else:
                response = self._handle(request, operation, args)
        except ApiError as error:
            response = errors_document(error)
        self.store.handling_record(endpoint, time.perf_counter() - started)
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        if response.status_code < 400 and (
            late := self.faults.take(request.path, after_processing=True, operation=operation)
        ):
            response = self._fault(late)  # it took effect, but the client hears a failure
        if decision is not None and response.status_code != 429:
            response.headers["RateLimit-Limit"] = str(decision.limit)
            response.headers["RateLimit-Remaining"] = str(decision.remaining)
            response.headers["RateLimit-Reset"] = str(decision.reset)
        with self.store.lock:
            self.store.responses_by_status[response.status_code] += 1
        return response

    def _check_headers(self, request: Request, operation: str) -> None:
        authorization = request.headers.get("Authorization")
        if not authorization:
            raise ApiError.one(401, "Authentication credentials were not provided.")
        if authorization != f"Klaviyo-API-Key {self.config.api_key}":
            error = ApiError.one(401, "Incorrect authentication credentials.")
            error.errors[0]["code"] = "authentication_failed"
            raise error
        revision = request.headers.get("revision")
        if not revision:
            raise ApiError.one(400, "The revision header is required.", parameter="revision")
        if not REVISION.match(revision):
            raise ApiError.one(
                400,
                f"Invalid revision {revision!r}: the format is YYYY-MM-DD[.suffix].",
                parameter="revision",
            )
        if problem := revision_problem(revision, today=date.today()):
            raise ApiError.one(400, problem, parameter="revision")
        if request.method not in WRITE_METHODS:
            return
        if request.mimetype != JSON_API:
            raise ApiError.one(
                415, f"Unsupported media type {request.mimetype!r}: send {JSON_API}."
            )
        if request.headers.get("Content-Encoding", "identity") != "identity":
            raise ApiError.one(415, "Unsupported Content-Encoding.")
        limit = BODY_LIMITS.get(operation, MAX_BODY_BYTES)
        if (request.content_length or 0) > limit:
            raise ApiError.one(413, f"The request body is over {limit} bytes.")

    def _should_validate(self) -> bool:
        if not self.config.validate:
            return False
        with self._count_lock:
            self._requests_seen += 1
            return (self._requests_seen - 1) % self.config.validate_sample == 0

    def _handle(self, request: Request, operation: str, args: dict[str, str]) -> Response:
        body = None
        if request.method in WRITE_METHODS:
            try:
                body = json.loads(request.get_data(), parse_constant=_reject_constant)
            except ValueError as error:
                raise ApiError.one(400, f"The body is not valid JSON: {error}") from error
        validated = self._should_validate()
        if validated and self.spec is not None:
            with self.store.lock:
                self.store.validated_requests += 1
            if errors := request_errors(request, spec=self.spec):
                raise ApiError(400, errors)
        context = HandlerContext(
            request=request, store=self.store, faults=self.faults, body=body, args=args
        )
        try:
            return HANDLERS[operation](context)
        except (KeyError, TypeError, AttributeError, IndexError) as error:
            if validated:
                raise  # a valid request must not break a handler: that is a bug
            raise ApiError.one(400, f"Malformed request body ({error!r}).") from error

    @staticmethod
    def _throttled(retry_after: int) -> Response:
        response = errors_document(
            ApiError.one(
                429, f"Request was throttled. Expected available in {retry_after} seconds."
            )
        )
        response.headers["Retry-After"] = str(retry_after)
        return response

    def _fault(self, fault: FaultedStatus) -> Response:
        with self.store.lock:
            self.store.faults_served += 1
        if fault.status == 429:
            return self._throttled(max(1, math.ceil(fault.retry_after)))
        return errors_document(ApiError.one(fault.status, "Injected failure (emulator fault)."))
