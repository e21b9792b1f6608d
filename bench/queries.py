"""Read benchmark: the local `GET /events/count`, `/events/emails` and the event list `GET /events`
vs. the same SQL run raw.

    .venv/bin/python bench/queries.py              # 1,000,000 events, database dropped at the end
    .venv/bin/python bench/queries.py --keep       # ... kept, and reused by the next run
    .venv/bin/python bench/queries.py --reload     # load the data again
    .venv/bin/python bench/queries.py --events 200000 --requests 100

It uses its own MariaDB database (`--database-url`, default bench_queries on 127.0.0.1) and
loads it, when it doesn't already hold `--events` events, with LOAD DATA LOCAL INFILE: 100
metrics, 50,000 emails, events spread uniformly over 30 days and stored as they happened
(created_at = time), 95% sent, 2% pending, 2% failed, 1% skipped (seeded, so every run has the
same). No Klaviyo key: every answer is local. At the end the database is dropped, unless
`--keep` (a run that finds the same data loaded reuses it).

Phases, in one run so that the figures share the same machine state:
1. EXPLAIN of both queries (they must be range scans on the (event_name, time, email) index).
2. API: `--requests` GETs of each endpoint through Django's test client, on random (metric, day)
   pairs, after a warm-up; p50 / p95 of the whole request.
3. Raw: the very SQL statements those requests ran (captured in an untimed pass), executed and
   fetched over one connection; p50 / p95.
Prints both, their ratio, and whether the API's p95 is under the target (50 ms).
4. The event list, `GET /events` (what a client reconciles with): `--requests` first pages of
   `--list-limit` (100, the default page) for each kind of query a client makes (no filter, a
   status, a metric, an email, a day of createdAt, and pairs of them), then the next page of
   each from its nextCursor; p50 / p95 of each kind against the same SQL raw, and the worst
   API p95 against the target of issue 15 (20 ms), with EXPLAIN of each kind's statement.
"""

import argparse
import gc
import os
import random
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from benchenv import (
    add_keep_option,
    captured_sql,
    cleanup_at_exit,
    database_name,
    database_prepare,
    django_setup,
    explain_rows,
    percentile,
    plan_line,
    raw_timings,
    server_connection,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH_KEY = "bench-api-key"
TARGET_P95_MS = 50.0
FIRST_DAY = date(2025, 9, 1)
DAYS = 30
SEED = 20250901


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events (1,000,000)")
    parser.add_argument("--metrics", type=int, default=100, help="metrics (100)")
    parser.add_argument("--emails", type=int, default=50_000, help="distinct emails (50,000)")
    parser.add_argument("--requests", type=int, default=200, help="requests per endpoint (200)")
    parser.add_argument("--limit", type=int, default=100, help="emails per page (100)")
    parser.add_argument("--list-limit", type=int, default=100, help="GET /events page (100)")
    parser.add_argument("--reload", action="store_true", help="load the data even if present")
    add_keep_option(parser.add_argument)
    parser.add_argument(
        "--database-url", default="mysql://root@127.0.0.1:3306/bench_queries", help="MariaDB URL"
    )
    return parser.parse_args()


def configure_django(args: argparse.Namespace) -> None:
    django_setup(
        database_url=args.database_url,
        CELERY_BROKER_URL="",
        API_KEYS=BENCH_KEY,
        API_THROTTLE_RATE="",
    )


def metric_names(count: int) -> list[str]:
    return [f"Metric {index:03d}" for index in range(count)]


def email_of(index: int) -> str:
    return f"user{index:05d}@example.com"


def load(args: argparse.Namespace) -> None:
    """Writes profiles and events to tab-separated files and LOADs them, events in primary-key
    order (random UUIDs sorted) so InnoDB appends instead of splitting pages."""
    from events.failures import failure_reason
    from events.models import Event, Metric, Profile

    rng = random.Random(SEED)
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / "bench_queries"
    folder.mkdir(exist_ok=True)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    started = time.perf_counter()
    profiles_file = folder / "profiles.tsv"
    with profiles_file.open("w") as out:
        for index in range(args.emails):
            email = email_of(index)
            out.write(f"{index + 1}\t{email}\t{email}\t{{}}\tsent\t\t{now}\t{now}\n")
    names = metric_names(args.metrics)
    first = datetime.combine(FIRST_DAY, datetime.min.time())
    span = DAYS * 86400
    ids = sorted(uuid.UUID(int=rng.getrandbits(128), version=4).hex for _ in range(args.events))
    events_file = folder / "events.tsv"
    with events_file.open("w") as out:
        for event_id in ids:
            profile = rng.randrange(args.emails)
            moment = first + timedelta(seconds=rng.random() * span)
            stamp = moment.strftime("%Y-%m-%d %H:%M:%S.%f")
            status, attempts, error = sync_state(rng.random())
            out.write(
                f"{event_id}\t{rng.choice(names)}\t{email_of(profile)}\t{profile + 1}\t"
                f'{{"amount": 10}}\t{{}}\t{stamp}\t{status}\t{attempts}\t{error}\t'
                f"{failure_reason(error) if error else ''}\t"
                f"{stamp}\n"
            )
    print(f"  files written in {time.perf_counter() - started:.1f} s")

    server = server_connection(args.database_url, local_infile=1)
    cursor = server.cursor()
    cursor.execute(f"USE `{database_name(args.database_url)}`")
    cursor.execute("SET FOREIGN_KEY_CHECKS = 0, UNIQUE_CHECKS = 0")
    for model in (Event, Profile, Metric):
        cursor.execute(f"TRUNCATE TABLE {model._meta.db_table}")
    started = time.perf_counter()
    cursor.execute(
        f"LOAD DATA LOCAL INFILE %s INTO TABLE {Profile._meta.db_table} "
        "(id, identity, email, attributes, sync_status, last_error, created_at, updated_at)",
        [str(profiles_file)],
    )
    cursor.execute(
        f"LOAD DATA LOCAL INFILE %s INTO TABLE {Event._meta.db_table} "
        "(id, event_name, email, profile_id, event_attributes, profile_attributes, time, "
        "sync_status, attempts, last_error, failure_reason, created_at)",
        [str(events_file)],
    )
    cursor.executemany(
        f"INSERT INTO {Metric._meta.db_table} (name, klaviyo_id, updated_at) VALUES (%s, %s, %s)",
        [(name, f"M{index:05d}", now) for index, name in enumerate(names)],
    )
    cursor.execute(f"ANALYZE TABLE {Event._meta.db_table}")
    cursor.fetchall()
    server.commit()
    server.close()
    print(f"  loaded in {time.perf_counter() - started:.1f} s")
    profiles_file.unlink()
    events_file.unlink()


def sync_state(roll: float) -> tuple[str, int, str]:
    """(sync_status, attempts, last_error) of an event, by a roll in [0, 1): 95% sent, 2%
    pending, 2% failed, 1% skipped (the mix of bench/dashboard.py)."""
    if roll < 0.95:
        return "sent", 1, ""
    if roll < 0.97:
        return "pending", 0, ""
    if roll < 0.99:
        return "failed", 8, "HTTP 503: Service Unavailable (gave up after 8 attempts)"
    return "skipped", 0, "Not sent: KLAVIYO_API_KEY is not configured"


def loaded(events: int) -> bool:
    """Whether the database holds `events` events with the status mix of this loader."""
    from events.models import Event, SyncStatus

    return event_count() == events and Event.objects.filter(sync_status=SyncStatus.FAILED).exists()


def event_count() -> int:
    from django.db import connection

    from events.models import Event

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {Event._meta.db_table}")
        return cursor.fetchone()[0]


def samples(args: argparse.Namespace) -> list[dict[str, str]]:
    rng = random.Random(SEED + 1)
    names = metric_names(args.metrics)
    return [
        {
            "metric": rng.choice(names),
            "date": (FIRST_DAY + timedelta(days=rng.randrange(DAYS))).isoformat(),
            "tz": rng.choice(["UTC", "America/New_York", "Europe/Paris"]),
        }
        for _ in range(args.requests)
    ]


def explain(query: dict[str, str], limit: int) -> None:
    """EXPLAIN of the event-table statements one count and one emails request run."""
    for path, statement in captured_statements([query], limit).items():
        print(f"  {path}: {statement[0]}")
        for plan in explain_rows(statement[0]):
            print("    EXPLAIN " + plan_line(plan))


def captured_statements(queries: list[dict[str, str]], limit: int) -> dict[str, list[str]]:
    """Per endpoint, the SQL each request ran on the events table, as sent to the server."""
    from events.models import Event

    client = api_client()
    return {
        path: captured_sql(
            client,
            path,
            [{**query, "limit": limit} if path.endswith("emails") else query for query in queries],
            Event._meta.db_table,
        )
        for path in ("/events/count", "/events/emails")
    }


def api_client() -> Any:
    """Django's test client with the benchmark's API key."""
    from django.test import Client

    return Client(headers={"X-API-Key": BENCH_KEY})


def time_api(path: str, queries: list[dict[str, str]], limit: int) -> list[float]:
    client = api_client()
    timings = []
    for query in queries:
        params = {**query, "limit": limit} if path.endswith("emails") else query
        started = time.perf_counter()
        response = client.get(path, params)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and response.json()["source"] == "local"
    return timings


def main() -> None:
    args = parse_args()
    configure_django(args)
    database_prepare(args.database_url)
    cleanup_at_exit(database_url=args.database_url, keep=args.keep)
    if args.reload or not loaded(args.events):
        print(f"Loading {args.events:,} events ({args.metrics} metrics, {args.emails:,} emails)")
        load(args)
    else:
        print(f"Reusing the {args.events:,} events already loaded (--reload to load again)")

    # As a gunicorn worker does once loaded (klaviyo_backend/gunicorn_config.py): what lives
    # as long as the process, out of the garbage collector's sight.
    gc.collect()
    gc.freeze()
    queries = samples(args)
    print("Plans:")
    explain(queries[0], args.limit)
    time_api("/events/count", queries[:20], args.limit)  # warm-up: caches, buffer pool
    time_api("/events/emails", queries[:20], args.limit)
    statements = captured_statements(queries, args.limit)

    print(f"\n{args.requests} requests each, milliseconds:")
    print(f"  {'endpoint':<16}{'API p50':>9}{'API p95':>9}{'raw p50':>9}{'raw p95':>9}{'ratio':>7}")
    verdicts = []
    for path, raw_statements in statements.items():
        api = time_api(path, queries, args.limit)
        raw = raw_timings(raw_statements)
        api_p50, api_p95 = statistics.median(api), percentile(api, 0.95)
        raw_p50, raw_p95 = statistics.median(raw), percentile(raw, 0.95)
        ratio = api_p95 / raw_p95 if raw_p95 else float("inf")
        print(
            f"  {path:<16}{api_p50:>9.2f}{api_p95:>9.2f}{raw_p50:>9.2f}{raw_p95:>9.2f}"
            f"{ratio:>6.1f}x"
        )
        verdicts.append((path, api_p95))
    for path, api_p95 in verdicts:
        verdict = "OK" if api_p95 < TARGET_P95_MS else "OVER TARGET"
        print(f"  {path}: API p95 {api_p95:.2f} ms vs target {TARGET_P95_MS:.0f} ms: {verdict}")

    # For the record: the endpoints that read a whole index rather than a range.
    for path in ("/events/metrics", "/events/profiles/user00042@example.com/metrics"):
        timings = time_api(path, [{}] * 5, args.limit)
        print(f"  {path}: median of 5 {statistics.median(timings):.1f} ms")

    from queries_event_list import event_list_phase

    # The same samples, each with an email of its own (drawn apart: the others stay the same).
    emails = random.Random(SEED + 2)
    listed = [{**query, "email": email_of(emails.randrange(args.emails))} for query in queries]
    event_list_phase(args, api_client(), listed)


if __name__ == "__main__":
    main()
