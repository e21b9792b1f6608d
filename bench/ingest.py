"""Ingest benchmark: POST /events/bulk on a running server vs. a raw `executemany` of the same rows.

    .venv/bin/python bench/ingest.py                    # 100,000 events, starts its own gunicorn
    .venv/bin/python bench/ingest.py --events 20000 --clients 4 --workers 3
    .venv/bin/python bench/ingest.py --url http://127.0.0.1:3000 --api-key KEY   # a server you run,
        # on the same database: DATABASE_URL=mysql://root@127.0.0.1:3306/bench_ingest

It uses its own MariaDB database (`--database-url`, default bench_ingest on 127.0.0.1), migrates it
and empties the events and profiles tables before each phase. Tasks are queued on `--broker`
(Redis, so that no task runs inside the web process; `--broker ''` runs them eagerly instead).
At the end the database is dropped and the Redis db emptied, unless `--keep` or `--url` (a
server you run uses them).

Phases, all in one run so that the figures share the same machine state:
1. API: N events in requests of `--batch` (1,000), sent by `--clients` threads over keep-alive
   connections; request bodies are encoded before the clock starts.
2. Raw: the same profile and event rows with `executemany` over one connection, one commit per
   batch, rows prepared before the clock starts; run before and after phase 1, the faster run
   counts. This is the ceiling the API is compared with.
3. Profile: one bulk request in process under cProfile, broken down by stage.
Prints events/s for 1 and 2, their ratio (target: API >= 1/4 of raw) and the breakdown of 3.
"""

import argparse
import cProfile
import json
import os
import pstats
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import benchenv
from benchenv import database_prepare, django_setup

ROOT = Path(__file__).resolve().parent.parent
BENCH_KEY = "bench-api-key"
TARGET_RATIO = 0.25


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events to post (100,000)")
    parser.add_argument("--batch", type=int, default=1000, help="events per request (1,000)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads (4)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (3)")
    parser.add_argument("--profiles", type=int, default=0, help="distinct emails (events / 10)")
    parser.add_argument(
        "--database-url", default="mysql://root@127.0.0.1:3306/bench_ingest", help="MariaDB URL"
    )
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14", help="Celery broker")
    parser.add_argument("--url", default="", help="use this running server, don't start one")
    parser.add_argument("--api-key", default=BENCH_KEY, help="X-API-Key for --url")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile phase")
    benchenv.add_keep_option(parser.add_argument)
    return parser.parse_args()


def configure_django(args: argparse.Namespace) -> None:
    """This process talks to the same database as the server: for migrate, raw and profile."""
    django_setup(database_url=args.database_url, CELERY_BROKER_URL=args.broker, API_KEYS=BENCH_KEY)


def empty_tables() -> None:
    from django.db import connection

    from events.models import Event, Profile

    with connection.cursor() as cursor:
        cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
        for model in (Event, Profile):
            cursor.execute(f"TRUNCATE TABLE {model._meta.db_table}")
        cursor.execute("SET FOREIGN_KEY_CHECKS = 1")


def make_events(count: int, profiles: int) -> list[dict[str, Any]]:
    """Events as clients send them: a purchase or page view, profile attributes, a uniqueId."""
    start = datetime.now(UTC) - timedelta(days=1)
    run = uuid.uuid4().hex[:8]
    events = []
    for index in range(count):
        person = index % profiles
        events.append(
            {
                "eventName": ("Purchase", "Page View", "Add to Cart")[index % 3],
                "email": f"person{person}@example.com",
                "eventAttributes": {"amount": index % 90, "currency": "USD", "sku": f"S{index}"},
                "profileAttributes": {"firstName": f"First{person}", "plan": "pro"},
                "time": (start + timedelta(seconds=index)).isoformat().replace("+00:00", "Z"),
                "value": float(10 + index % 90),
                "uniqueId": f"bench-{run}-{index}",
            }
        )
    return events


def batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- Phase 1: the API ------------------------------------------------------------------------


def post_all(url: str, api_key: str, bodies: list[bytes], clients: int) -> float:
    """Sends every body to /events/bulk from `clients` threads; returns the elapsed seconds."""
    return benchenv.post_all(
        url, "/events/bulk", bodies, api_key=api_key, clients=clients, timeout=120
    )


# --- Phase 2: raw executemany --------------------------------------------------------------


def raw_rows(events: list[dict[str, Any]]) -> tuple[list[list[tuple]], list[list[tuple]]]:
    """Per batch: the new profile rows and the event rows, as the database takes them."""
    now = datetime.now(UTC).replace(tzinfo=None)
    profile_ids: dict[str, int] = {}
    profile_batches, event_batches = [], []
    for batch in batches(events, 1000):
        profiles, rows = [], []
        for event in batch:
            email = event["email"]
            if email not in profile_ids:
                profile_ids[email] = len(profile_ids) + 1
                attributes = json.dumps(event["profileAttributes"])
                profiles.append(
                    (profile_ids[email], email, email, attributes, "pending", "", now, now)
                )
            rows.append(
                (
                    uuid.uuid4().hex,
                    event["eventName"],
                    email,
                    profile_ids[email],
                    json.dumps(event["eventAttributes"]),
                    json.dumps(event["profileAttributes"]),
                    datetime.fromisoformat(event["time"]).replace(tzinfo=None),
                    event["value"],
                    event["uniqueId"],
                    "pending",
                    0,
                    "",
                    "",
                    now,
                )
            )
        profile_batches.append(profiles)
        event_batches.append(rows)
    return profile_batches, event_batches


def raw_insert(profile_batches: list[list[tuple]], event_batches: list[list[tuple]]) -> float:
    from django.db import connection

    from events.models import Event, Profile

    raw = connection.get_new_connection(connection.get_connection_params())
    cursor = raw.cursor()
    insert_profiles = (
        f"INSERT INTO {Profile._meta.db_table} (id, identity, email, attributes, sync_status, "
        "last_error, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    )
    insert_events = (
        f"INSERT INTO {Event._meta.db_table} (id, event_name, email, profile_id, "
        "event_attributes, profile_attributes, time, value, unique_id, sync_status, attempts, "
        "last_error, failure_reason, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    started = time.perf_counter()
    for profiles, rows in zip(profile_batches, event_batches, strict=True):
        if profiles:
            cursor.executemany(insert_profiles, profiles)
        cursor.executemany(insert_events, rows)
        raw.commit()
    elapsed = time.perf_counter() - started
    raw.close()
    return elapsed


# --- Phase 3: where one request's time goes -------------------------------------------------

# (label, file suffix, function): the cumulative time of these frames within one request.
STAGES = [
    ("JSON parse", "parsers.py", "parse"),
    ("input validation", "rest_framework/serializers.py", "is_valid"),
    ("profile upsert (SQL + merge)", "events/profile_services.py", "profiles_upsert"),
    ("Event objects", "events/services.py", "_event_from"),
    ("event insert (SQL)", "events/services.py", "_events_insert"),
    ("post_save per new event (sync, metrics)", "events/services.py", "_events_announce"),
    ("queueing for Klaviyo", "klaviyo_sync/tasks.py", "queue_event_sync"),
    ("output + JSON render", "rest_framework/response.py", "rendered_content"),
]
# What events_ingest_bulk does besides the stages above: the earlier-uniqueId lookup, commit.
SERVICE = ("events/services.py", "events_ingest_bulk")


def profile_request(events: list[dict[str, Any]], api_key: str) -> None:
    from django.test import Client

    client = Client(HTTP_X_API_KEY=api_key)
    body = json.dumps({"events": events[:1000]})
    # Warm up (imports, connection), then one measured request without and one with the profiler.
    client.post("/events/bulk", body, content_type="application/json")
    empty_tables()
    started = time.perf_counter()
    response = client.post("/events/bulk", body, content_type="application/json")
    wall = time.perf_counter() - started
    assert response.status_code == 201, response.content[:300]
    empty_tables()
    from django.db import connection

    def statements_sent() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SHOW SESSION STATUS LIKE 'Questions'")
            return int(cursor.fetchone()[1])

    before = statements_sent()
    client.post("/events/bulk", body, content_type="application/json")
    # Minus the status query itself; a regression to one INSERT per event shows here.
    statements = statements_sent() - before - 1
    empty_tables()
    profiler = cProfile.Profile()
    profiler.enable()
    response = client.post("/events/bulk", body, content_type="application/json")
    profiler.disable()
    assert response.status_code == 201, response.content[:300]
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]

    def cumulative(suffix: str, function: str) -> float:
        return sum(
            entry[3]
            for (filename, _, name), entry in entries.items()
            if name == function and filename.endswith(suffix)
        )

    total = max(entry[3] for entry in entries.values())
    print(
        f"\nOne request of {len(events[:1000])} events in process: {wall * 1000:.0f} ms, "
        f"{statements} SQL statements"
    )
    print(f"Under cProfile ({total * 1000:.0f} ms), by stage:")
    seconds = {label: cumulative(suffix, function) for label, suffix, function in STAGES}
    # Queueing runs on commit, inside events_ingest_bulk: counted once, as its own stage.
    in_service = sum(seconds[label] for label, _, _ in STAGES[2:6])
    seconds["other service work (uniqueId lookup, commit)"] = cumulative(*SERVICE) - in_service
    seconds["HTTP, middleware, auth, routing, logging"] = total - sum(seconds.values())
    for label, value in seconds.items():
        print(f"  {label:<46} {value * 1000:7.1f} ms  {value / total:6.1%}")
    print("Top functions by own time:")
    stats.sort_stats("tottime").print_stats(10)


def main() -> None:
    args = parse_args()
    profiles = args.profiles or max(1, args.events // 10)
    configure_django(args)
    database_prepare(args.database_url)
    benchenv.cleanup_at_exit(
        database_url=args.database_url, broker=args.broker, keep=args.keep or bool(args.url)
    )
    events = make_events(args.events, profiles)
    bodies = [json.dumps({"events": batch}).encode() for batch in batches(events, args.batch)]
    print(
        f"{args.events} events, {profiles} profiles, {len(bodies)} requests of {args.batch}, "
        f"{args.clients} client threads, database {args.database_url}, "
        f"tasks {'queued on ' + args.broker if args.broker else 'eager (in process)'}"
    )

    # Raw before and after the API phase; the faster one is the baseline, so that load from
    # other processes during one of them makes the ratio lower, never higher.
    profile_batches, event_batches = raw_rows(events)
    empty_tables()
    raw_seconds = [raw_insert(profile_batches, event_batches)]

    empty_tables()
    server = None
    url, api_key = args.url, args.api_key
    if not url:
        from testkit.procs import start_api_server

        server, url = start_api_server(env=os.environ, workers=args.workers)
        api_key = BENCH_KEY
        print(f"gunicorn: {args.workers} workers on {url}")
    try:
        api_seconds = post_all(url, api_key, bodies, args.clients)
    finally:
        if server is not None:
            server.stop(timeout=30)

    from events.models import Event, Profile

    stored = Event.objects.count(), Profile.objects.count()
    if stored != (args.events, profiles):
        raise SystemExit(f"API phase stored {stored}, expected ({args.events}, {profiles})")

    empty_tables()
    raw_seconds.append(raw_insert(profile_batches, event_batches))
    api_rate, raw_rate = args.events / api_seconds, args.events / min(raw_seconds)
    print(f"API  /events/bulk: {api_rate:9,.0f} events/s ({api_seconds:.2f} s)")
    runs = " and ".join(f"{seconds:.2f} s" for seconds in raw_seconds)
    print(f"raw  executemany : {raw_rate:9,.0f} events/s (best of {runs})")
    verdict = "meets" if api_rate / raw_rate >= TARGET_RATIO else "MISSES"
    print(f"ratio API/raw    : {api_rate / raw_rate:.2f} ({verdict} the target {TARGET_RATIO})")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"load average     : {load} on {os.cpu_count()} CPUs (others' work skews both rates)")

    empty_tables()
    if not args.no_profile:
        profile_request(events, BENCH_KEY)
        empty_tables()
    if server is not None and args.broker:
        # Our own broker database: drop the tasks queued for a worker that never ran.
        from klaviyo_backend.celery import app

        app.control.purge()


if __name__ == "__main__":
    main()
