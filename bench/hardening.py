"""What the hardening costs per request, in process (no server, no database):

    .venv/bin/python bench/hardening.py
    .venv/bin/python bench/hardening.py --events 1000 --rounds 50 --requests 3000

1. Parsing a bulk body of `--events` events: the strict parser (duplicate keys, NaN, lone
   surrogates refused) against DRF's stock JSONParser, the baseline, on the same bytes.
2. A request through the whole middleware stack (request id, JSON log line, Prometheus counters)
   against the same stack without the request-log middleware, the baseline. The request is one
   no view serves (404), so that only the middleware is measured; log lines go to /dev/null.
Prints microseconds per operation and the ratio to the baseline, best of three runs each.
"""

import argparse
import io
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "klaviyo_backend.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from rest_framework.parsers import JSONParser  # noqa: E402

from core.parsers import StrictJSONParser  # noqa: E402


def best_of_three(run: Callable[[], None], repeat: int) -> float:
    """Microseconds per call, the fastest of three timed batches."""
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeat):
            run()
        timings.append((time.perf_counter() - started) / repeat * 1e6)
    return min(timings)


def bulk_body(events: int) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "eventName": "Purchase",
                    "email": f"person{index}@example.com",
                    "eventAttributes": {
                        "amount": index * 1.5,
                        "currency": "USD",
                        "sku": f"S{index}",
                    },
                    "profileAttributes": {"firstName": "Ann", "address": {"city": "Paris"}},
                    "time": "2026-01-01T10:00:00Z",
                    "uniqueId": f"order-{index}",
                }
                for index in range(events)
            ]
        }
    ).encode()


def parse_with(parser: JSONParser, body: bytes) -> Callable[[], None]:
    return lambda: parser.parse(io.BytesIO(body), "application/json", {"encoding": "utf-8"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000, help="events in the bulk body")
    parser.add_argument("--rounds", type=int, default=30, help="parses per timed batch")
    parser.add_argument("--requests", type=int, default=2000, help="requests per timed batch")
    args = parser.parse_args()

    body = bulk_body(args.events)
    stock = best_of_three(parse_with(JSONParser(), body), args.rounds)
    strict = best_of_three(parse_with(StrictJSONParser(), body), args.rounds)
    print(f"parse a {args.events}-event bulk body ({len(body) / 1024:.0f} KiB)")
    print(f"  DRF JSONParser (baseline)   {stock:10.0f} us")
    print(f"  StrictJSONParser            {strict:10.0f} us   x{strict / stock:.2f}")

    console = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    with open(os.devnull, "w") as devnull:
        console.setStream(devnull)
        client = Client()
        full = best_of_three(lambda: client.get("/no-such-page"), args.requests)
        without = [m for m in settings.MIDDLEWARE if m != "core.middleware.RequestLogMiddleware"]
        with override_settings(MIDDLEWARE=without):
            bare_client = Client()
            bare = best_of_three(lambda: bare_client.get("/no-such-page"), args.requests)
    print("one request through the middleware stack (404, no view work)")
    print(f"  without request log/metrics (baseline) {bare:8.0f} us")
    print(f"  with request id, JSON line, metrics    {full:8.0f} us   +{full - bare:.0f} us")


if __name__ == "__main__":
    main()
