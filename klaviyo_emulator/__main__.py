"""`python -m klaviyo_emulator [--port 8025]`: a Klaviyo API emulator on loopback, for demos,
benchmarks and drills. Point the service at it with KLAVIYO_BASE_URL=http://127.0.0.1:8025/api
and KLAVIYO_API_KEY=pk_emulator; drive its faults through http://127.0.0.1:8025/_emulator/
(see klaviyo_emulator/control.py).

It needs no Django and no database: only requirements-emulator.txt.
"""

import argparse
import gc
import signal
import sys
from typing import Any

from klaviyo_emulator import DEFAULT_API_KEY, Emulator, EmulatorConfig, Faults
from klaviyo_emulator.faults import FaultSpecError

# Net allocations between collections of the young generation (Python's default: 700). This
# process keeps everything it was sent in memory, and a 10,000-profile import job's body is
# 40,000 objects: at 700 each body lived through dozens of collections into the oldest
# generation, whose growth then set off full collections of the whole store, several per
# 100,000 profiles. At 100,000 a body is mostly freed before a collection sees it; what stays
# is collected as before, less often. Measured, 100,000 profiles in 10 jobs (bench/profiles.py,
# Klaviyo alone): 1.9 CPU s of the emulator with 700, 1.3-1.5 s with 100,000.
GC_YOUNG_THRESHOLD = 100_000


def parser_build() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m klaviyo_emulator",
        description="Serve a Klaviyo API emulator (checks, rate limits, faults) on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="Address to bind (loopback).")
    parser.add_argument("--port", type=int, default=8025, help="Port; 0 picks a free one.")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="The accepted key.")
    parser.add_argument(
        "--no-validate", action="store_true", help="Skip the OpenAPI request checks."
    )
    parser.add_argument(
        "--validate-sample",
        type=int,
        default=1,
        metavar="N",
        help="Check every Nth request against the OpenAPI document (benchmarks).",
    )
    parser.add_argument("--no-rate-limits", action="store_true", help="Never answer 429.")
    parser.add_argument(
        "--rate-limit-scale", type=float, default=1.0, help="Multiplies every rate limit."
    )
    parser.add_argument("--fail-status", type=int, help="Answer this status (any 4xx or 5xx)...")
    parser.add_argument("--fail-count", type=int, help="...for the next N requests...")
    parser.add_argument("--fail-seconds", type=float, help="...or for this many seconds.")
    parser.add_argument(
        "--fail-operation",
        help="...only for this Klaviyo operationId (e.g. bulk_subscribe_profiles).",
    )
    parser.add_argument("--retry-after", type=int, default=1, help="Retry-After of a 429.")
    parser.add_argument("--latency-ms", type=int, default=0, help="Delay every answer.")
    parser.add_argument(
        "--read-lag-ms",
        type=int,
        default=0,
        help="Show what was written in reads only this long after (Klaviyo is asynchronous).",
    )
    parser.add_argument(
        "--reject-email", action="append", default=[], help="Refuse this email (repeatable)."
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = parser_build()
    options = parser.parse_args(argv)
    try:
        config = EmulatorConfig(
            api_key=options.api_key,
            validate=not options.no_validate,
            validate_sample=options.validate_sample,
            rate_limits=not options.no_rate_limits,
            rate_limit_scale=options.rate_limit_scale,
        )
        faults = Faults()
        faults.configure(_fault_spec(options))
    except (ValueError, FaultSpecError) as error:
        parser.error(str(error))  # exits 2 with the usage and the message
    try:
        emulator = Emulator(host=options.host, port=options.port, config=config, faults=faults)
    except OSError as error:
        where = f"{options.host}:{options.port}"
        parser.exit(1, f"klaviyo_emulator: cannot listen on {where}: {error}\n")
    # The first line names the URL, so a script that asked for port 0 can read it.
    print(f"Klaviyo emulator listening on {emulator.api_url}")
    print(
        f"  KLAVIYO_BASE_URL={emulator.api_url} KLAVIYO_API_KEY={config.api_key}\n"
        f"  control API: {emulator.url}/_emulator/state",
        flush=True,
    )
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    signal.signal(signal.SIGTERM, _stop)
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.server.server_close()
    return 0


def _fault_spec(options: argparse.Namespace) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if options.fail_status is not None:
        spec["status"] = options.fail_status
        spec["retry_after"] = options.retry_after
        if options.fail_count is not None:
            spec["count"] = options.fail_count
        if options.fail_seconds is not None:
            spec["seconds"] = options.fail_seconds
        if options.fail_operation is not None:
            spec["operation"] = options.fail_operation
    if options.latency_ms:
        spec["latency_ms"] = options.latency_ms
    if options.read_lag_ms:
        spec["read_lag_ms"] = options.read_lag_ms
    if options.reject_email:
        spec["reject_email"] = options.reject_email
    return spec


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
