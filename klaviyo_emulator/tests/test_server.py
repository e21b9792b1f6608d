"""The emulator as a real HTTP server: in a thread, driven over its control API, and as
`python -m klaviyo_emulator` in its own process."""

import json

import pytest
import requests

from klaviyo_emulator import EmulatorControl
from klaviyo_emulator.__main__ import main as emulator_main
from klaviyo_emulator.tests.conftest import HTTP_HEADERS, event_body
from testkit.procs import start_emulator_process

HEADERS = HTTP_HEADERS


def send_event(api_url: str, session: requests.Session, **fields) -> requests.Response:
    return session.post(
        f"{api_url}/events/", data=json.dumps(event_body(**fields)), headers=HEADERS, timeout=10
    )


def test_it_serves_on_a_free_loopback_port_over_one_kept_alive_connection(emulator):
    session = requests.Session()
    responses = [send_event(emulator.api_url, session, unique_id=f"e{i}") for i in range(3)]

    assert emulator.api_url.startswith("http://127.0.0.1:")
    assert [r.status_code for r in responses] == [202, 202, 202]
    assert responses[0].raw.version == 11  # HTTP/1.1: the client's pooled connection is reused
    assert len(emulator.store.events) == 3


def test_the_control_api_reports_state_and_stored_events(emulator):
    control = EmulatorControl(emulator.api_url)
    session = requests.Session()
    send_event(emulator.api_url, session, unique_id="twice")
    send_event(emulator.api_url, session, unique_id="twice")

    state = control.state()
    [event] = control.events(unique_id="twice")

    assert state["events_received"] == 2
    assert state["events_stored"] == 1
    assert state["redundant_sends"] == 1
    assert state["requests_by_endpoint"] == {"POST /api/events/": 2}
    assert state["responses_by_status"] == {"202": 2}
    assert state["handling_ms"]["POST /api/events/"]["count"] == 2
    assert event["received"] == 2
    assert event["metric"] == "Placed Order"
    assert event["profile"] == {"email": "sarah@example.com"}


def test_the_control_api_sets_and_clears_faults(emulator):
    control = EmulatorControl(emulator.api_url)
    session = requests.Session()

    described = control.fault(status=503, count=1)
    failed = send_event(emulator.api_url, session)
    passed = send_event(emulator.api_url, session)
    control.fault(reject_email="sarah@example.com")
    rejected = send_event(emulator.api_url, session, unique_id="other")
    control.clear_faults()
    accepted = send_event(emulator.api_url, session, unique_id="other")

    assert described["statuses"][0]["remaining"] == 1
    assert [r.status_code for r in (failed, passed, rejected, accepted)] == [503, 202, 400, 202]
    assert control.state()["faults_served"] == 1


def test_the_control_api_switches_rate_limits_and_resets(emulator):
    control = EmulatorControl(emulator.api_url)
    session = requests.Session()

    assert control.configure(rate_limits=False, validate_sample=2)["rate_limits"] is False
    send_event(emulator.api_url, session)
    state = control.reset()

    assert state["events_stored"] == 0
    assert state["config"] == {
        "rate_limits": False,
        "rate_limit_scale": 1.0,
        "validate": True,
        "validate_sample": 2,
    }


def test_the_control_api_refuses_what_it_does_not_understand(emulator):
    root = f"{emulator.url}/_emulator"

    unknown_key = requests.post(f"{root}/faults", json={"statuz": 503}, timeout=10)
    bad_status = requests.post(f"{root}/faults", json={"status": 200}, timeout=10)
    bad_switch = requests.post(f"{root}/config", json={"rate_limit_scale": 0}, timeout=10)
    unknown_path = requests.get(f"{root}/nothing", timeout=10)

    assert [r.status_code for r in (unknown_key, bad_status, bad_switch)] == [400, 400, 400]
    assert "statuz" in unknown_key.json()["error"]
    assert unknown_path.status_code == 404


def test_python_m_klaviyo_emulator_serves_with_its_start_up_faults():
    process, api_url = start_emulator_process(
        "--fail-status", "503", "--fail-count", "1", "--no-rate-limits"
    )
    try:
        session = requests.Session()
        first = send_event(api_url, session)
        second = send_event(api_url, session)
        state = EmulatorControl(api_url).state()
    finally:
        process.stop()

    assert (first.status_code, second.status_code) == (503, 202)
    assert state["events_stored"] == 1
    assert state["config"]["rate_limits"] is False
    assert process.popen.returncode == 0  # SIGTERM ends it cleanly


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--rate-limit-scale", "0"], "rate_limit_scale"),
        (["--fail-status", "200"], "status"),
        (["--port", "eighty"], "--port"),
    ],
)
def test_python_m_klaviyo_emulator_refuses_a_bad_option_naming_it(argv, named, capsys):
    with pytest.raises(SystemExit) as exit_info:
        emulator_main(argv)

    assert exit_info.value.code == 2
    assert named in capsys.readouterr().err
