"""Sync benchmark: a backlog of pending events drained into the Klaviyo emulator by ONE worker.

    .venv/bin/python bench/sync.py                       # 100,000 events, MariaDB + Redis
    .venv/bin/python bench/sync.py --events 20000 --database-url sqlite:////tmp/bench_sync.sqlite3

Needs Redis (`--broker`, default redis://127.0.0.1:6379/13, emptied first) and a database of its
own (`--database-url`, default bench_sync on the local MariaDB; created and migrated, its events
and profiles deleted before the run). At the end the database is dropped and the Redis db
emptied, unless `--keep`. It starts the emulator in this process with Klaviyo's
published rate limits ON (bulk jobs 10/s burst, 150/min steady) and requests checked against the
OpenAPI document one in `--validate-sample` (20); inserts N pending events directly (one profile
per 10 events); starts ONE `celery worker` with `--concurrency` pool processes (4 by default, as
the worker of docker-compose.yml: the sync waits on Klaviyo and the database more than it
computes); queues the events as the bulk ingest does (one task per 1,000); and waits until none
is pending.

Prints events/s, HTTP requests per event, the 429s Klaviyo answered, the emulator's handling
time per bulk request, and the drain time against its floor under the published limit: with
R = ceil(N / 1000) bulk requests, R / 10 s (the burst rate; the steady 150/min only binds above
150 requests). Target: drain time <= 1.25 x that floor, a handful of 429s at most, every event
sent and stored once.
"""

import argparse
import gc
import math
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from benchenv import add_keep_option, cleanup_at_exit, database_prepare

ROOT = Path(__file__).resolve().parent.parent
BURST_PER_SECOND = 10  # POST /api/event-bulk-create-jobs, x-klaviyo-ratelimit
STEADY_PER_MINUTE = 150
EVENTS_PER_REQUEST = 1000
TARGET_RATIO = 1.25
TARGET_MAX_429 = 5
INSERT_BATCH = 5000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="pending events (100,000)")
    parser.add_argument(
        "--database-url", default="mysql://root@127.0.0.1:3306/bench_sync", help="its own DB"
    )
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/13", help="Redis, emptied")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="pool processes of the one worker (4, as docker-compose.yml's worker runs)",
    )
    parser.add_argument(
        "--validate-sample", type=int, default=20, help="emulator checks every Nth request (20)"
    )
    parser.add_argument("--timeout", type=float, default=600, help="give up after (s)")
    add_keep_option(parser.add_argument)
    return parser.parse_args()


def configure_django(args: argparse.Namespace) -> None:
    os.environ.update(
        DATABASE_URL=args.database_url,
        CELERY_BROKER_URL=args.broker,
        KLAVIYO_API_KEY="",  # this process only queues; the worker gets the emulator's key
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="klaviyo_backend.settings",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def prepare_database(database_url: str) -> None:
    from events.models import Event, Profile

    database_prepare(database_url)
    Event.objects.all().delete()
    Profile.objects.all().delete()


def insert_pending_events(count: int) -> list[str]:
    """Profiles and events straight into the tables (no signal, no task); returns event ids."""
    from events.models import Event, Profile

    run = uuid.uuid4().hex[:8]
    profile_count = max(1, count // 10)
    Profile.objects.bulk_create(
        [
            Profile(
                identity=f"person{p}-{run}@example.com",
                email=f"person{p}-{run}@example.com",
                attributes={"firstName": f"First{p}", "plan": "pro", "city": "Oslo"},
            )
            for p in range(profile_count)
        ],
        batch_size=INSERT_BATCH,
    )
    profile_ids = list(Profile.objects.order_by("id").values_list("id", "email"))
    start = datetime.now(UTC) - timedelta(days=1)
    ids: list[str] = []
    for offset in range(0, count, INSERT_BATCH):
        batch = []
        for index in range(offset, min(count, offset + INSERT_BATCH)):
            profile_id, email = profile_ids[index % profile_count]
            event = Event(
                id=uuid.uuid4(),
                event_name=("Purchase", "Page View", "Add to Cart")[index % 3],
                email=email,
                profile_id=profile_id,
                event_attributes={"amount": 10 + index % 90, "currency": "USD", "sku": f"S{index}"},
                profile_attributes={"firstName": f"First{index % profile_count}"},
                time=start + timedelta(seconds=index % 80_000),
                value=float(10 + index % 90),
                unique_id=f"bench-{run}-{index}",
            )
            batch.append(event)
            ids.append(str(event.id))
        Event.objects.bulk_create(batch)
    return ids


def cpu_seconds(processes: dict[str, list[psutil.Process]]) -> dict[str, float]:
    """User + system CPU seconds used so far by each group of processes."""
    used: dict[str, float] = {}
    for name, group in processes.items():
        total = 0.0
        for process in group:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        used[name] = total
    return used


def cpu_groups(
    worker_pid: int, *, database_url: str, emulator: psutil.Process | None = None
) -> dict[str, list[psutil.Process]]:
    """The worker (with its pool), the emulator (in this process unless its own is given),
    this process, and the database server (shared with whatever else uses it); SQLite works
    inside the worker."""
    worker = psutil.Process(worker_pid)
    groups = {"worker": [worker, *worker.children(recursive=True)]}
    if emulator is None:
        groups["emulator+bench"] = [psutil.Process()]
    else:
        groups |= {"emulator": [emulator], "bench": [psutil.Process()]}
    if database_url.startswith("mysql"):
        names = ("mariadbd", "mysqld")
        groups["database server"] = [
            p for p in psutil.process_iter(["name"]) if p.info["name"] in names
        ]
    return groups


def start_emulator_worker(*, broker: str, database_url: str, api_url: str, concurrency: int):
    """ONE celery worker on the benchmark's broker and database, sending to the emulator."""
    from klaviyo_emulator import DEFAULT_API_KEY
    from testkit.procs import start_worker, worker_env

    env = worker_env(
        broker=broker,
        database=database_url,
        KLAVIYO_API_KEY=DEFAULT_API_KEY,
        KLAVIYO_BASE_URL=api_url,
        LOG_LEVEL="WARNING",
    )
    return start_worker(env=env, concurrency=concurrency)


def drained(pending) -> bool:
    # What the emulator stored stays alive for the whole run: freezing it keeps the garbage
    # collector from walking 100,000 events again and again inside its request threads.
    gc.freeze()
    return not pending.exists()


def drain_floor(requests: int) -> float:
    """Seconds the published bulk limit needs for `requests` at its sustained rate."""
    by_burst = requests / BURST_PER_SECOND
    by_steady = max(0, math.ceil(requests / STEADY_PER_MINUTE) - 1) * 60.0
    return max(by_burst, by_steady)


def main() -> int:
    args = parse_args()
    configure_django(args)
    from events.models import Event, SyncStatus
    from klaviyo_emulator import Emulator, EmulatorConfig
    from klaviyo_sync.tasks import queue_events_in_batches
    from testkit.procs import broker_flush, wait_until

    prepare_database(args.database_url)
    cleanup_at_exit(database_url=args.database_url, broker=args.broker, keep=args.keep)
    broker_flush(args.broker)
    emulator = Emulator(port=0, config=EmulatorConfig(validate_sample=args.validate_sample))
    emulator.start()
    print(
        f"emulator {emulator.api_url}: Klaviyo's rate limits, validating 1 request in "
        f"{args.validate_sample}"
    )

    started = time.perf_counter()
    ids = insert_pending_events(args.events)
    print(f"inserted {len(ids):,} pending events in {time.perf_counter() - started:.1f} s")

    worker = start_emulator_worker(
        broker=args.broker,
        database_url=args.database_url,
        api_url=emulator.api_url,
        concurrency=args.concurrency,
    )
    print(f"worker ready (concurrency {args.concurrency}); draining...")
    pending = Event.objects.filter(sync_status=SyncStatus.PENDING)
    groups = cpu_groups(worker.pid, database_url=args.database_url)
    try:
        cpu_before = cpu_seconds(groups)
        started = time.perf_counter()
        queue_events_in_batches(ids)
        wait_until(lambda: drained(pending), timeout=args.timeout, interval=0.1)
        drain = time.perf_counter() - started
        cpu = {k: v - cpu_before[k] for k, v in cpu_seconds(groups).items()}
    finally:
        worker.stop()
        emulator.stop()

    state = emulator.store.counters()
    requests = sum(state["requests_by_endpoint"].values())
    bulk_endpoint = "POST /api/event-bulk-create-jobs/"
    bulk = state["requests_by_endpoint"].get(bulk_endpoint, 0)
    throttled = state["responses_by_status"].get("429", 0)
    handling = state["handling_ms"][bulk_endpoint]
    sent = Event.objects.filter(sync_status=SyncStatus.SENT).count()
    floor = drain_floor(math.ceil(args.events / EVENTS_PER_REQUEST))
    ratio = drain / floor
    print()
    print(
        f"events sent:            {sent:,} of {args.events:,} "
        f"(stored in Klaviyo: {state['events_stored']:,}, duplicates: {state['duplicates']})"
    )
    print(f"drain time:             {drain:.2f} s  ({args.events / drain:,.0f} events/s)")
    print(
        f"HTTP requests:          {requests} ({bulk} bulk), {requests / args.events:.4f} per event"
    )
    print(f"429s from Klaviyo:      {throttled}")
    print(
        f"emulator per bulk req:  p50 {handling['p50']:.0f} ms, p95 {handling['p95']:.0f} ms, "
        f"max {handling['max']:.0f} ms ({state['validated_requests']} checked against the spec)"
    )
    print(
        f"floor (published limit): {floor:.2f} s for {math.ceil(args.events / 1000)} bulk "
        f"requests at {BURST_PER_SECOND}/s, {STEADY_PER_MINUTE}/min"
    )
    print("CPU seconds in drain:   " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
    print(f"machine:                {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"drain / floor:          {ratio:.3f}  (target <= {TARGET_RATIO})")
    ok = (
        ratio <= TARGET_RATIO
        and throttled <= TARGET_MAX_429
        and sent == args.events == state["events_stored"]
        and state["duplicates"] == 0
    )
    print("PASS" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
