"""The control API, for tests and fault drills in other processes (no auth, no rate limits):

GET    /_emulator/state              counters, faults and switches
GET    /_emulator/events[?unique_id] stored events with how often each unique_id arrived
GET    /_emulator/deletion-jobs      data-privacy-deletion-jobs received, in order: identifier,
                                     profiles and events deleted, events received before it
POST   /_emulator/faults             {"status": 503, "count": 2} | {"status": 429, "seconds": 3,
                                     "retry_after": 1} | {"latency_ms": 200} |
                                     {"reject_email": "a@example.com"}; optional "path",
                                     "after_processing"
DELETE /_emulator/faults             clears every fault
POST   /_emulator/config             {"rate_limits": false, "rate_limit_scale": 0.5,
                                     "validate": true, "validate_sample": 1}
POST   /_emulator/reset              forgets everything received, faults and rate windows

Consent and lists (JSON shapes in consent_view.py):
GET    /_emulator/profiles[?email=&phone_number=]   {"profiles": [profile state, ...]}: each
                                     profile's email/SMS consent, suppressions and lists
GET    /_emulator/history[?email=&profile_id=]      {"history": [entry, ...]}: every consent
                                     and list change in the order it landed ("seq")
GET    /_emulator/lists              {"lists": [{"id", "name", "opt_in_process", "created",
                                     "members": [{"profile_id", "email", "joined_group_at"}]}]}
POST   /_emulator/lists              {"name": "Newsletter", "opt_in_process": "single_opt_in",
                                     "id": "Y6nRLr"} (only name required) -> 201 the list
POST   /_emulator/lists/{id}/confirm {"email": "a@example.com"}: the person confirms a pending
                                     double opt-in subscription -> the profile state; 404 when
                                     none is pending (double_opt_in.py)
Faults target one route by path ({"path": "/api/profile-subscription-bulk-create-jobs"}) or by
Klaviyo operationId ({"operation": "add_profiles_to_list"}), e.g.
{"status": 503, "count": 2, "operation": "bulk_subscribe_profiles"}.
"""

import json
import re
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from klaviyo_emulator.consent_view import (
    history_entries,
    list_state,
    list_states,
    profile_state,
    profile_states,
)
from klaviyo_emulator.double_opt_in import confirm
from klaviyo_emulator.faults import FaultSpecError
from klaviyo_emulator.lists_store import DOUBLE_OPT_IN, SINGLE_OPT_IN
from klaviyo_emulator.store import now_utc

if TYPE_CHECKING:
    from klaviyo_emulator.app import EmulatorApp

CONFIRM = re.compile(r"/_emulator/lists/([^/]+)/confirm")


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
        if route == ("GET", "/_emulator/deletion-jobs"):
            with app.store.lock:
                jobs = [job.as_dict() for job in app.store.deletion_jobs]
            return _json({"deletion_jobs": jobs})
        if route == ("POST", "/_emulator/faults"):
            app.faults.configure(_body(request))
            return _json(app.faults.describe())
        if route == ("DELETE", "/_emulator/faults"):
            app.faults.clear()
            return _json(app.faults.describe())
        if route == ("POST", "/_emulator/config"):
            app.configure(_body(request))
            return _json(emulator_state(app)["config"])
        if route == ("GET", "/_emulator/profiles"):
            found = profile_states(
                app.store,
                email=request.args.get("email"),
                phone_number=request.args.get("phone_number"),
            )
            return _json({"profiles": found})
        if route == ("GET", "/_emulator/history"):
            entries = history_entries(
                app.store,
                email=request.args.get("email"),
                profile_id=request.args.get("profile_id"),
            )
            return _json({"history": entries})
        if route == ("GET", "/_emulator/lists"):
            return _json({"lists": list_states(app.store)})
        if route == ("POST", "/_emulator/lists"):
            return _json(_list_create(app, _body(request)), status=201)
        if route[0] == "POST" and (confirmed := CONFIRM.fullmatch(route[1])):
            return _confirm(app, confirmed.group(1), _body(request))
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


def _list_create(app: "EmulatorApp", body: dict[str, Any]) -> dict[str, Any]:
    name, opt_in = body.get("name"), body.get("opt_in_process")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name must be a non-empty string")
    if opt_in not in (None, SINGLE_OPT_IN, DOUBLE_OPT_IN):
        raise ValueError(f"opt_in_process must be {SINGLE_OPT_IN} or {DOUBLE_OPT_IN}")
    list_id = body.get("id")
    if list_id is not None and (not isinstance(list_id, str) or not list_id):
        raise ValueError("id must be a non-empty string")
    with app.store.lock:
        stored = app.store.lists.create(
            name=name, at=now_utc(), opt_in_process=opt_in, list_id=list_id
        )
        return list_state(app.store, stored)


def _confirm(app: "EmulatorApp", list_id: str, body: dict[str, Any]) -> Response:
    email = body.get("email")
    if not isinstance(email, str) or not email:
        raise ValueError("email must be the address that confirms")
    if list_id not in app.store.lists.lists:
        return _json({"error": f"no list {list_id}"}, status=404)
    try:
        profile = confirm(app.store, list_id, email)
    except KeyError as error:
        return _json({"error": str(error.args[0])}, status=404)
    with app.store.lock:
        return _json(profile_state(app.store, profile))
