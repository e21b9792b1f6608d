"""Load benchmark: mixed traffic on gunicorn + MariaDB + ONE Celery worker + the Klaviyo emulator.

    .venv/bin/python bench/load.py                  # 60 s of load, about 2 minutes in all
    .venv/bin/python bench/load.py --seconds 10     # quick smoke run
    .venv/bin/python bench/load.py --single-rate 40 --bulk-rate 2 --read-rate 20 --workers 3

Needs MariaDB (`--database-url`, default ks_load: created if missing, migrated, events and
profiles emptied) and Redis (`--broker`, default db 12, flushed first); at the end the database
is dropped and the Redis db emptied, unless `--keep`. This process runs the emulator (Klaviyo's
published rate limits ON, one request in `--validate-sample` checked against the OpenAPI
document) and the load generator (threads, one requests.Session each); it starts gunicorn and
one `celery worker`, both on production settings (DEBUG off, no API throttle, the
emulator's key, default retry delays). The reads ask the emulator first, as they would ask
Klaviyo; its CPU is this machine's too (`--local-reads`: gunicorn without the key).

Before the clock: `--expired` events created past the retention period (already sent) on
profiles of their own, so that the purge has real work. Then for `--seconds`, at fixed rates
(open loop: a thread that falls behind sends at once, and the achieved rate shows it):
single events (POST /events; one in 50 repeats an earlier uniqueId, a client's retry, 200),
bulk batches (POST /events/bulk, `--bulk-min`..`--bulk-max` events), reads (/health,
/events/metrics, /count, /emails, /profiles/{email}/attributes and /metrics of emails already
accepted) and ONE synchronous purge (POST /cleanup/manual) half way. Events are spread over
`--profiles` emails with event and profile attributes, times in the last three days.

Prints: CPUs and load average, an idle baseline from the same run (GET /health and a raw SQL
round trip), throughput (requests/s, events accepted/s), per endpoint count and p50/p95/p99
latency, errors (non-2xx by status), what the purge deleted, the emulator's requests and 429s
per endpoint, InnoDB deadlocks, and, once the backlog has drained: accepted events missing from
the emulator, events stored there twice, rows not `sent`, profiles not marked sent, the
worker's logged warnings and task retries, and CPU seconds per process group.
Exit 0 when there is no error, nothing missing, nothing stored twice and every row is `sent`.
"""

import argparse
import json
import os
import random
import re
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
import requests
from benchenv import add_keep_option, cleanup_at_exit, database_prepare, django_setup
from ingest import empty_tables
from sync import cpu_seconds, start_emulator_worker

BENCH_KEY = "bench-load-key"
EVENT_NAMES = ("Purchase", "Page View", "Add to Cart", "Viewed Product")
# The sync's own calls to Klaviyo; the others come from the read endpoints.
SYNC_ENDPOINTS = (
    "POST /api/events",
    "POST /api/event-bulk-create-jobs",
    "POST /api/profile-import",
    "POST /api/profile-bulk-import-jobs",
)
REPEAT_EVERY = 50  # one single event in 50 is sent again with its uniqueId


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--seconds", type=float, default=60, help="duration of the load (60)")
    add("--single-rate", type=float, default=30, help="POST /events per second (30)")
    add("--bulk-rate", type=float, default=2, help="POST /events/bulk per second (2)")
    add("--bulk-min", type=int, default=100, help="fewest events per bulk request (100)")
    add("--bulk-max", type=int, default=500, help="most events per bulk request (500)")
    add("--read-rate", type=float, default=15, help="read requests per second (15)")
    add("--profiles", type=int, default=2000, help="distinct emails of the load (2,000)")
    add("--expired", type=int, default=20_000, help="expired events for the purge (20,000)")
    add("--workers", type=int, default=3, help="gunicorn workers (3)")
    add("--concurrency", type=int, default=os.cpu_count() or 1, help="celery pool processes")
    add("--validate-sample", type=int, default=20, help="emulator checks every Nth request")
    add("--drain-timeout", type=float, default=120, help="seconds to wait for the backlog")
    add(
        "--local-reads",
        action="store_true",
        help="gunicorn without the Klaviyo key: reads answer from the database alone",
    )
    add("--database-url", default="mysql://root@127.0.0.1:3306/ks_load", help="its own DB")
    add("--broker", default="redis://127.0.0.1:6379/12", help="Redis db of its own, flushed")
    add_keep_option(add)
    return parser.parse_args()


# --- what the clients send ---------------------------------------------------------------------


class Traffic:
    """Request bodies and the uniqueIds the server accepted; shared by the client threads."""

    def __init__(self, *, profiles: int, seed: int = 7) -> None:
        self.run = uuid.uuid4().hex[:8]
        self.emails = [f"person{n}-{self.run}@example.com" for n in range(profiles)]
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.counter = 0
        self.sent_singles: list[bytes] = []
        self.accepted_ids: set[str] = set()
        self.accepted_emails: list[str] = []
        self.now = datetime.now(UTC)

    def event(self) -> dict[str, Any]:
        with self.lock:
            self.counter += 1
            index = self.counter
            person = self.random.randrange(len(self.emails))
            amount = round(self.random.uniform(5, 500), 2)
            ago = timedelta(seconds=self.random.randrange(3 * 86400))
        return {
            "eventName": EVENT_NAMES[index % len(EVENT_NAMES)],
            "email": self.emails[person],
            "eventAttributes": {
                "amount": amount,
                "currency": "USD",
                "items": [{"sku": f"SKU-{index % 997}", "quantity": 1 + index % 3}],
            },
            "profileAttributes": {
                "firstName": f"First{person}",
                "lastName": f"Last{person}",
                "plan": ("free", "pro", "team")[person % 3],
                "location": {"city": ("Oslo", "Lyon", "Austin")[person % 3]},
            },
            "time": (self.now - ago).isoformat().replace("+00:00", "Z"),
            "value": amount,
            "uniqueId": f"load-{self.run}-{index}",
        }

    def single_body(self) -> bytes:
        """A new event, or (one in REPEAT_EVERY) an earlier one again: a client's retry."""
        with self.lock:
            repeat = self.sent_singles and self.counter % REPEAT_EVERY == 0
            if repeat:
                self.counter += 1
                return self.random.choice(self.sent_singles)
        body = json.dumps(self.event()).encode()
        with self.lock:
            self.sent_singles.append(body)
        return body

    def bulk_bodies(self, count: int, low: int, high: int) -> list[tuple[bytes, list[dict]]]:
        sizes = [self.random.randint(low, high) for _ in range(count)]
        batches = [[self.event() for _ in range(size)] for size in sizes]
        return [(json.dumps({"events": batch}).encode(), batch) for batch in batches]

    def accept(self, events: list[dict[str, Any]]) -> None:
        with self.lock:
            for event in events:
                self.accepted_ids.add(event["uniqueId"])
                self.accepted_emails.append(event["email"])

    def read_request(self) -> tuple[str, str, dict[str, str]]:
        """(label, path, query) of a read, about what a dashboard asks."""
        with self.lock:
            kind = self.random.randrange(6)
            name = self.random.choice(EVENT_NAMES)
            day = (self.now - timedelta(days=self.random.randrange(3))).date().isoformat()
            email = self.random.choice(self.accepted_emails) if self.accepted_emails else None
        if kind == 0 or (kind >= 4 and email is None):
            return "GET /health", "/health", {}
        if kind == 1:
            return "GET /events/metrics", "/events/metrics", {}
        if kind == 2:
            return "GET /events/count", "/events/count", {"metric": name, "date": day}
        if kind == 3:
            query = {"metric": name, "date": day, "limit": "100"}
            return "GET /events/emails", "/events/emails", query
        if kind == 4:
            return (
                "GET /events/profiles/{email}/attributes",
                f"/events/profiles/{email}/attributes",
                {},
            )
        return "GET /events/profiles/{email}/metrics", f"/events/profiles/{email}/metrics", {}


# --- the client threads ------------------------------------------------------------------------


@dataclass
class Results:
    elapsed: float = 0.0  # from the first tick until the last answer
    samples: list[tuple[str, int, float]] = field(default_factory=list)  # label, status, s
    events_accepted: int = 0
    read_sources: Counter = field(default_factory=Counter)
    purge: dict[str, Any] = field(default_factory=dict)
    client_cpu: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, label: str, status: int, seconds: float, events: int = 0) -> None:
        with self.lock:
            self.samples.append((label, status, seconds))
            if 200 <= status < 300:
                self.events_accepted += events


class Client:
    def __init__(self, url: str, results: Results) -> None:
        self.url = url
        self.results = results
        self.session = requests.Session()
        self.session.headers.update({"X-API-Key": BENCH_KEY, "Content-Type": "application/json"})

    def call(
        self, label: str, method: str, path: str, *, events: int = 0, **kwargs: Any
    ) -> requests.Response | None:
        started = time.perf_counter()
        try:
            response = self.session.request(method, self.url + path, timeout=60, **kwargs)
        except requests.RequestException:
            self.results.record(label, 0, time.perf_counter() - started)  # 0: no answer
            return None
        self.results.record(label, response.status_code, time.perf_counter() - started, events)
        return response


def paced(rate: float, *, threads: int, index: int, start: float, end: float) -> Iterator[None]:
    """Yields at this thread's share of `rate` until `end`; a late tick comes at once, and
    the ticks still due at `end` are dropped (the achieved rate shows them)."""
    interval = threads / rate
    due = start + index * interval / threads
    while due < end and time.monotonic() < end:
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        yield
        due += interval


def client_thread(
    work: Callable[[], None],
    results: Results,
    *,
    rate: float,
    threads: int,
    index: int,
    start: float,
    end: float,
) -> None:
    for _ in paced(rate, threads=threads, index=index, start=start, end=end):
        work()
    results.client_cpu.append(time.thread_time())  # this thread's own CPU seconds


def run_load(args: argparse.Namespace, url: str, traffic: Traffic) -> Results:
    results = Results()
    bulk_count = max(1, round(args.seconds * args.bulk_rate)) + 2
    bulk_queue = traffic.bulk_bodies(bulk_count, args.bulk_min, args.bulk_max)

    def single(client: Client) -> Callable[[], None]:
        def work() -> None:
            body = traffic.single_body()
            response = client.call("POST /events", "POST", "/events", data=body, events=1)
            if response is not None and response.ok:
                traffic.accept([json.loads(body)])

        return work

    def bulk(client: Client) -> Callable[[], None]:
        def work() -> None:
            if not bulk_queue:
                return
            body, batch = bulk_queue.pop()
            response = client.call(
                "POST /events/bulk", "POST", "/events/bulk", data=body, events=len(batch)
            )
            if response is not None and response.ok:
                traffic.accept(batch)

        return work

    def read(client: Client) -> Callable[[], None]:
        def work() -> None:
            label, path, query = traffic.read_request()
            response = client.call(label, "GET", path, params=query)
            if response is not None and response.ok and label != "GET /health":
                with results.lock:
                    results.read_sources[response.json().get("source", "?")] += 1

        return work

    # Threads per stream: enough that one slow answer doesn't stall the stream.
    streams = [(single, args.single_rate, 4), (bulk, args.bulk_rate, 2), (read, args.read_rate, 3)]
    start = time.monotonic() + 0.2
    end = start + args.seconds
    threads = []
    for make, rate, count in streams:
        if rate <= 0:
            continue
        for index in range(count):
            work = make(Client(url, results))
            kwargs = dict(rate=rate, threads=count, index=index, start=start, end=end)
            threads.append(
                threading.Thread(target=client_thread, args=(work, results), kwargs=kwargs)
            )

    def purge() -> None:
        time.sleep(max(0.0, start + args.seconds / 2 - time.monotonic()))
        began = time.monotonic()
        response = Client(url, results).call(
            "POST /cleanup/manual", "POST", "/cleanup/manual", json={}
        )
        results.purge = {"at": began - start, "status": response.status_code if response else 0}
        if response is not None and response.ok:
            results.purge.update(response.json())
        results.client_cpu.append(time.thread_time())

    threads.append(threading.Thread(target=purge))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.elapsed = time.monotonic() - start
    return results


# --- setup and checks --------------------------------------------------------------------------


def seed_expired(count: int, run: str) -> int:
    """Sent events created past the retention period, on profiles of their own (one per 10):
    the purge's work. Returns the profiles made."""
    from django.conf import settings

    from events.models import Event, Profile, SyncStatus

    old = datetime.now(UTC) - timedelta(days=settings.DATA_RETENTION_DAYS + 3)
    emails = [f"old{n}-{run}@example.com" for n in range(max(1, count // 10))]
    Profile.objects.bulk_create(
        [
            Profile(identity=e, email=e, attributes={"plan": "old"}, created_at=old, updated_at=old)
            for e in emails
        ],
        batch_size=5000,
    )
    ids = dict(Profile.objects.filter(email__in=emails).values_list("email", "id"))
    for offset in range(0, count, 5000):
        Event.objects.bulk_create(
            [
                Event(
                    event_name=EVENT_NAMES[n % len(EVENT_NAMES)],
                    email=emails[n % len(emails)],
                    profile_id=ids[emails[n % len(emails)]],
                    event_attributes={"amount": n % 90},
                    time=old,
                    unique_id=f"old-{run}-{n}",
                    sync_status=SyncStatus.SENT,
                    created_at=old,
                )
                for n in range(offset, min(count, offset + 5000))
            ]
        )
    return len(emails)


def idle_baseline(url: str) -> tuple[list[float], list[float]]:
    """Round trips on the idle stack: GET /health over HTTP, SELECT 1 over one connection."""
    from django.db import connection

    session = requests.Session()
    for _ in range(10):  # each gunicorn worker's first request opens its connections
        session.get(url + "/health", timeout=10)
    health = []
    for _ in range(40):
        started = time.perf_counter()
        session.get(url + "/health", timeout=10)
        health.append(time.perf_counter() - started)
    sql = []
    with connection.cursor() as cursor:
        for _ in range(200):
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            sql.append(time.perf_counter() - started)
    return health, sql


def counting(app: Callable, statuses: Counter) -> Callable:
    """Wraps the emulator's WSGI app: status counts per `METHOD /api/<resource>`."""

    def wrapped(environ: dict[str, Any], start_response: Callable) -> Any:
        parts = environ.get("PATH_INFO", "").strip("/").split("/")
        endpoint = f"{environ['REQUEST_METHOD']} /{'/'.join(parts[:2])}"

        def counted(status: str, headers: list, *rest: Any) -> Any:
            statuses[(endpoint, int(status.split()[0]))] += 1
            return start_response(status, headers, *rest)

        return app(environ, counted)

    return wrapped


def innodb_deadlocks() -> int:
    """Deadlocks InnoDB broke since it started (the whole server: other databases count too)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")
        row = cursor.fetchone()
    return int(row[1]) if row else 0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def ms(values: list[float], share: float) -> str:
    return f"{percentile(values, share) * 1000:7.1f}"


# --- the run -----------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    django_setup(
        database_url=args.database_url,
        CELERY_BROKER_URL=args.broker,
        API_KEYS=BENCH_KEY,
        API_THROTTLE_RATE="",
    )
    from django.db.models import Count

    from events.models import Event, Profile, SyncStatus
    from klaviyo_emulator import DEFAULT_API_KEY, Emulator, EmulatorConfig
    from testkit.procs import broker_flush, start_api_server

    load_before = os.getloadavg()
    database_prepare(args.database_url)
    cleanup_at_exit(database_url=args.database_url, broker=args.broker, keep=args.keep)
    empty_tables()
    broker_flush(args.broker)
    emulator = Emulator(port=0, config=EmulatorConfig(validate_sample=args.validate_sample))
    klaviyo_statuses: Counter = Counter()
    emulator.server.app = counting(emulator.app, klaviyo_statuses)
    emulator.start()
    # gunicorn inherits this environment: it queues tasks and its reads ask the emulator.
    os.environ.update(KLAVIYO_BASE_URL=emulator.api_url)
    os.environ["KLAVIYO_API_KEY"] = "" if args.local_reads else DEFAULT_API_KEY
    # Static files are not collected for a benchmark: no warning from each gunicorn worker.
    os.environ["PYTHONWARNINGS"] = "ignore:No directory at:UserWarning"

    traffic = Traffic(profiles=args.profiles)
    expired_profiles = seed_expired(args.expired, traffic.run)
    worker = start_emulator_worker(
        broker=args.broker,
        database_url=args.database_url,
        api_url=emulator.api_url,
        concurrency=args.concurrency,
    )
    server, url = start_api_server(env=os.environ, workers=args.workers)
    pending = Event.objects.filter(sync_status=SyncStatus.PENDING)
    try:
        health_idle, sql_idle = idle_baseline(url)
        groups = {
            "gunicorn": [psutil.Process(server.pid), *psutil.Process(server.pid).children()],
            "worker": [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(True)],
            "this process": [psutil.Process()],
            "mariadb (shared)": [
                p for p in psutil.process_iter(["name"]) if p.info["name"] in ("mariadbd", "mysqld")
            ],
        }
        cpu_before, deadlocks_before = cpu_seconds(groups), innodb_deadlocks()
        print(
            f"load: {args.seconds:.0f} s; POST /events {args.single_rate}/s, POST /events/bulk "
            f"{args.bulk_rate}/s of {args.bulk_min}-{args.bulk_max}, reads {args.read_rate}/s, "
            f"one purge of {args.expired:,} expired events; gunicorn {args.workers} workers, "
            f"one celery worker ({args.concurrency} processes), emulator {emulator.api_url}"
        )
        results = run_load(args, url, traffic)
        backlog = pending.count()
        drain_started = time.monotonic()
        while pending.exists() and time.monotonic() - drain_started < args.drain_timeout:
            time.sleep(0.2)
        drain = time.monotonic() - drain_started
        cpu = {k: v - cpu_before[k] for k, v in cpu_seconds(groups).items()}
        deadlocks = innodb_deadlocks() - deadlocks_before
        worker_problems = [
            line[:300]
            for line in worker.log().splitlines()
            if re.search(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback|Retry in", line)
        ]
    finally:
        server.stop(timeout=30)
        worker.stop()
        emulator.stop()
    load_after = os.getloadavg()

    # --- report -----------------------------------------------------------------------------
    elapsed = results.elapsed
    by_label: dict[str, list[float]] = defaultdict(list)
    errors: Counter = Counter()
    for label, status, seconds in results.samples:
        by_label[label].append(seconds)
        if not 200 <= status < 300:
            errors[(label, status)] += 1
    total = len(results.samples)
    print(
        f"\nmachine: {os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after (1 min; a shared machine: others' work counts)"
    )
    print(
        f"idle baseline: GET /health p50 {percentile(health_idle, 0.5) * 1000:.1f} ms "
        f"p95 {percentile(health_idle, 0.95) * 1000:.1f} ms; raw SQL SELECT 1 round trip "
        f"p50 {percentile(sql_idle, 0.5) * 1000:.2f} ms"
    )
    print(
        f"throughput: {total:,} requests in {elapsed:.1f} s = {total / elapsed:.1f} requests/s; "
        f"{results.events_accepted:,} events accepted = {results.events_accepted / elapsed:,.0f}"
        " events/s"
    )
    print(
        f"\n{'endpoint':<42} {'count':>6} {'rate/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7}"
    )
    for label in sorted(by_label):
        values = by_label[label]
        print(
            f"{label:<42} {len(values):>6} {len(values) / elapsed:>7.1f} {ms(values, 0.5)} "
            f"{ms(values, 0.95)} {ms(values, 0.99)} {max(values) * 1000:7.1f}"
        )
    by_status = Counter()
    for (_, status), n in errors.items():
        by_status[status] += n
    print(
        f"\nerrors (non-2xx; 0 = no answer): {sum(errors.values())}"
        + (f", by status {dict(by_status)}, by endpoint {dict(errors)}" if errors else "")
    )
    print(f"reads answered from: {dict(results.read_sources)}")
    print(
        f"InnoDB deadlocks meanwhile: {deadlocks} (whole server; an ingest picked as the "
        "victim runs again, the worker's task is retried)"
    )
    purge = results.purge
    print(
        f"purge at {purge.get('at', 0):.1f} s: HTTP {purge.get('status')}, deleted "
        f"{purge.get('deletedEvents')} of {args.expired:,} expired events and "
        f"{purge.get('deletedProfiles')} of {expired_profiles:,} expired profiles"
    )
    throttled = {k: n for k, n in klaviyo_statuses.items() if k[1] == 429}
    requests_by = Counter()
    for (endpoint, _), n in klaviyo_statuses.items():
        requests_by[endpoint] += n
    print(f"emulator requests: {dict(requests_by)}")
    sync_429 = sum(n for (endpoint, _), n in throttled.items() if endpoint in SYNC_ENDPOINTS)
    print(
        f"emulator 429s: {sync_429} on the sync's endpoints (must stay 0), "
        f"{sum(throttled.values()) - sync_429} on the reads' (they fall back to local)"
    )

    stored: Counter = Counter(e.unique_id for e in emulator.store.events)
    missing = len(traffic.accepted_ids - set(stored))
    twice = sum(1 for n in stored.values() if n > 1)
    counters = emulator.store.counters()
    not_sent = dict(
        Event.objects.exclude(sync_status=SyncStatus.SENT)
        .values_list("sync_status")
        .annotate(n=Count("id"))
    )
    print(
        f"\nbacklog when the load stopped: {backlog:,} pending; drained in {drain:.1f} s"
        + ("" if not pending.exists() else f" (NOT within {args.drain_timeout:.0f} s)")
    )
    print(f"accepted events (distinct uniqueIds): {len(traffic.accepted_ids):,}")
    print(f"missing from the emulator: {missing}")
    print(
        f"stored twice in the emulator: {twice} (sends it dropped as repeats: "
        f"{counters['redundant_sends']})"
    )
    print(f"rows not sent: {sum(not_sent.values())} {not_sent or ''}")
    profiles_pending = Profile.objects.exclude(sync_status=SyncStatus.SENT).count()
    print(f"profiles not marked sent (for information): {profiles_pending}")
    print(f"worker log warnings, errors and task retries: {len(worker_problems)}")
    for line in worker_problems[:3]:
        print(f"  {line}")
    print(
        "CPU seconds (load + drain): "
        + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
        + f"; of this process, load generator threads {sum(results.client_cpu):.1f}"
        " (the rest: emulator)"
    )
    ok = not errors and missing == 0 and twice == 0 and not not_sent
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
