"""The control API, for tests and fault drills in other processes (no auth, no rate limits):

GET    /_emulator/state              counters, faults and switches
GET    /_emulator/events[?unique_id] stored events with how often each unique_id arrived
POST   /_emulator/faults             {"status": 503, "count": 2} | {"status": 429, "seconds": 3,
                                     "retry_after": 1} | {"latency_ms": 200} |
                                     {"reject_email": "a@example.com"}; optional "path",
                                     "after_processing"
DELETE /_emulator/faults             clears every fault
POST   /_emulator/config             {"rate_limits": false, "rate_limit_scale": 0.5,
                                     "validate": true, "validate_sample": 1}
POST   /_emulator/reset              forgets everything received, faults and rate windows
"""

import json
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from klaviyo_emulator.faults import FaultSpecError

if TYPE_CHECKING:
    from klaviyo_emulator.app import EmulatorApp


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json")


def emulator_state(app: "EmulatorApp") -> dict[str, Any]:
    config = app.config
    return {
        **app.store.counters(),
        "faults": app.faults.describe(),
        "config": {
            "rate_limits": config.rate_limits,
            "rate_limit_scale": config.rate_limit_scale,
            "validate": config.validate,
            "validate_sample": config.validate_sample,
        },
    }


def control_response(app: "EmulatorApp", request: Request) -> Response:
    route = (request.method, request.path.rstrip("/"))
    try:
        if route == ("GET", "/_emulator/state"):
            return _json(emulator_state(app))
        if route == ("GET", "/_emulator/events"):
            events = app.store.received_events()
            if unique_id := request.args.get("unique_id"):
                events = [e for e in events if e["unique_id"] == unique_id]
            return _json({"events": events})
        if route == ("POST", "/_emulator/faults"):
            app.faults.configure(_body(request))
            return _json(app.faults.describe())
        if route == ("DELETE", "/_emulator/faults"):
            app.faults.clear()
            return _json(app.faults.describe())
        if route == ("POST", "/_emulator/config"):
            app.configure(_body(request))
            return _json(emulator_state(app)["config"])
        if route == ("POST", "/_emulator/reset"):
            app.reset()
            return _json(emulator_state(app))
    except (FaultSpecError, ValueError, TypeError) as error:
        return _json({"error": str(error)}, status=400)
    return _json({"error": f"no control endpoint {request.method} {request.path}"}, status=404)


def _body(request: Request) -> dict[str, Any]:
    body = json.loads(request.get_data() or b"{}")
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body
