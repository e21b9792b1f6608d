"""What the emulator checks before an endpoint runs: auth, revision, media type, size, JSON,
rate limits; and the failures it can be told to inject."""

import json

import pytest

from klaviyo_emulator import EmulatorApp, EmulatorConfig
from klaviyo_emulator.app import ROUTES
from klaviyo_emulator.ratelimit import OPERATION_LIMITS, FixedWindowLimiter
from klaviyo_emulator.tests.conftest import KlaviyoTestClient, event_body
from klaviyo_emulator.validation import SPEC_PATH


class FakeClock:
    def __init__(self, now: float = 1_000_040.0) -> None:  # 20 s into a minute
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(emulator_app):
    fake = FakeClock()
    emulator_app.limiter = FixedWindowLimiter(clock=fake)
    return fake


def test_it_refuses_a_missing_or_wrong_api_key_with_401(klaviyo):
    missing = klaviyo.get("/api/accounts", headers={"Authorization": ""})
    wrong = klaviyo.get("/api/accounts", headers={"Authorization": "Klaviyo-API-Key nope"})

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.json["errors"][0]["code"] == "not_authenticated"
    assert wrong.json["errors"][0]["code"] == "authentication_failed"


def test_it_accepts_the_key_it_was_configured_with():
    app = EmulatorApp(EmulatorConfig(api_key="pk_other"))
    response = KlaviyoTestClient(app).get(
        "/api/accounts", headers={"Authorization": "Klaviyo-API-Key pk_other"}
    )

    assert response.status_code == 200


@pytest.mark.parametrize("revision", ["", "2026-7-15", "latest", "2026-07-15-beta"])
def test_it_refuses_a_missing_or_malformed_revision_with_400(klaviyo, revision):
    response = klaviyo.get("/api/accounts", headers={"revision": revision})

    assert response.status_code == 400
    assert response.json["errors"][0]["source"] == {"parameter": "revision"}


def test_it_accepts_a_revision_with_a_suffix(klaviyo):
    assert klaviyo.get("/api/accounts", headers={"revision": "2026-07-15.pre"}).status_code == 200


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_it_refuses_a_body_that_is_not_json_api_with_415(klaviyo, content_type):
    response = klaviyo.post("/api/events", event_body(), content_type=content_type)

    assert response.status_code == 415
    assert klaviyo.app.store.events == []


def test_it_refuses_a_compressed_body_with_415(klaviyo):
    response = klaviyo.post("/api/events", event_body(), headers={"Content-Encoding": "gzip"})

    assert response.status_code == 415


def test_it_refuses_a_profile_import_over_100_kb_with_413(klaviyo):
    attributes = {"email": "a@example.com", "properties": {"x": "y" * 110_000}}
    body = {"data": {"type": "profile", "attributes": attributes}}

    assert klaviyo.post("/api/profile-import", body).status_code == 413


@pytest.mark.parametrize("raw", [b"{not json", b'{"data": NaN}', b"[1, 2"])
def test_it_refuses_invalid_json_with_400(klaviyo, raw):
    response = klaviyo.post("/api/events", raw)

    assert response.status_code == 400
    assert "JSON" in response.json["errors"][0]["detail"]


def test_unknown_paths_are_404_and_wrong_methods_405(klaviyo):
    assert klaviyo.get("/api/nothing-here").status_code == 404
    assert klaviyo.client.delete("/api/events").status_code == 405


def test_the_rate_limits_are_the_ones_the_spec_publishes():
    spec = json.loads(SPEC_PATH.read_text())
    published = {
        operation["operationId"]: operation["x-klaviyo-ratelimit"]
        for path in spec["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    }

    for operation, limit in OPERATION_LIMITS.items():
        windows = {k: v for k, v in published[operation].items() if k in ("burst", "steady")}
        assert windows == {"burst": f"{limit.burst}/s", "steady": f"{limit.steady}/m"}


def test_every_route_has_its_published_rate_limit():
    assert {operation for _, _, operation, _ in ROUTES} <= set(OPERATION_LIMITS)


def test_it_answers_429_with_retry_after_once_the_burst_window_is_full(klaviyo, clock):
    statuses = [klaviyo.get("/api/metrics").status_code for _ in range(12)]  # 10/s
    throttled = klaviyo.get("/api/metrics")

    assert statuses == [200] * 10 + [429] * 2
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "1"
    assert "RateLimit-Limit" not in throttled.headers
    assert "RateLimit-Remaining" not in throttled.headers
    assert throttled.json["errors"][0]["code"] == "throttled"
    assert klaviyo.app.store.rate_limited == 3
    clock.now += 1  # the next second is a new burst window
    assert klaviyo.get("/api/metrics").status_code == 200


def test_the_steady_window_holds_until_the_minute_ends(klaviyo, clock):
    for second in range(15):  # get_metrics: 150 a minute, 10 a second
        clock.now = 1_000_040.0 + second * 2
        assert all(klaviyo.get("/api/metrics").status_code == 200 for _ in range(10))
    clock.now = 1_000_070.5

    throttled = klaviyo.get("/api/metrics")

    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "10"  # the minute ends at 1_000_080
    clock.now = 1_000_080.0
    assert klaviyo.get("/api/metrics").status_code == 200


def test_successful_answers_carry_ratelimit_headers(klaviyo, clock):
    response = klaviyo.get("/api/metrics")

    assert response.headers["RateLimit-Limit"] == "150"
    assert response.headers["RateLimit-Remaining"] == "149"
    assert response.headers["RateLimit-Reset"] == "40"


def test_each_operation_has_its_own_windows(klaviyo, clock):
    assert klaviyo.get("/api/accounts").status_code == 200
    assert klaviyo.get("/api/accounts").status_code == 429  # 1/s
    assert klaviyo.get("/api/metrics").status_code == 200


def test_rate_limits_can_be_scaled_or_switched_off(klaviyo, clock):
    klaviyo.app.configure({"rate_limit_scale": 0.2})  # metrics: 2/s
    assert [klaviyo.get("/api/metrics").status_code for _ in range(3)] == [200, 200, 429]

    klaviyo.app.configure({"rate_limits": False})
    assert all(klaviyo.get("/api/accounts").status_code == 200 for _ in range(5))


def test_a_status_fault_answers_the_next_n_requests_then_stops(klaviyo):
    klaviyo.app.faults.configure({"status": 503, "count": 2})

    statuses = [klaviyo.post("/api/events", event_body()).status_code for _ in range(3)]

    assert statuses == [503, 503, 202]
    assert len(klaviyo.app.store.events) == 1
    assert klaviyo.app.store.faults_served == 2


def test_a_429_fault_sends_its_retry_after(klaviyo):
    klaviyo.app.faults.configure({"status": 429, "count": 1, "retry_after": 7})

    response = klaviyo.post("/api/events", event_body())

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert klaviyo.app.store.events == []


def test_a_fault_can_target_one_path(klaviyo):
    klaviyo.app.faults.configure({"status": 500, "count": 1, "path": "/api/event-bulk-create-jobs"})

    assert klaviyo.post("/api/events", event_body()).status_code == 202
    assert klaviyo.get("/api/metrics").status_code == 200
    assert klaviyo.post("/api/event-bulk-create-jobs/", {}).status_code == 500


def test_a_timed_fault_lasts_its_seconds(klaviyo, monkeypatch):
    now = [500.0]
    monkeypatch.setattr("klaviyo_emulator.faults.time.monotonic", lambda: now[0])
    klaviyo.app.faults.configure({"status": 503, "seconds": 120})

    during = [klaviyo.get("/api/metrics").status_code for _ in range(3)]
    now[0] += 120
    after = klaviyo.get("/api/metrics").status_code

    assert (during, after) == ([503, 503, 503], 200)


def test_an_after_processing_fault_stores_the_event_but_answers_failure(klaviyo):
    klaviyo.app.faults.configure({"status": 504, "count": 1, "after_processing": True})

    first = klaviyo.post("/api/events", event_body(unique_id="lost-reply"))
    retry = klaviyo.post("/api/events", event_body(unique_id="lost-reply"))

    assert (first.status_code, retry.status_code) == (504, 202)
    assert len(klaviyo.app.store.events) == 1
    assert klaviyo.app.store.received_by_unique_id["lost-reply"] == 2


def test_latency_is_added_to_every_answer(klaviyo, monkeypatch):
    slept = []
    monkeypatch.setattr("klaviyo_emulator.app.time.sleep", slept.append)
    klaviyo.app.faults.configure({"latency_ms": 250})

    klaviyo.get("/api/metrics")
    klaviyo.post("/api/events", event_body())

    assert slept == [0.25, 0.25]


def test_a_rejected_email_fails_a_single_event(klaviyo):
    klaviyo.app.faults.configure({"reject_email": ["no@example.com"]})

    response = klaviyo.post("/api/events", event_body(email="no@example.com"))

    assert response.status_code == 400
    assert "rejected" in response.json["errors"][0]["detail"]


def test_validation_can_be_sampled(emulator_app):
    emulator_app.configure({"validate_sample": 3})
    client = KlaviyoTestClient(emulator_app)

    for _ in range(7):
        client.get("/api/metrics")

    assert emulator_app.store.validated_requests == 3  # requests 1, 4 and 7


def test_without_validation_a_malformed_body_is_still_a_400_not_a_crash():
    app = EmulatorApp(EmulatorConfig(validate=False))
    response = KlaviyoTestClient(app).post("/api/events", {"data": {"type": "event"}})

    assert response.status_code == 400
    assert "Malformed" in response.json["errors"][0]["detail"]
