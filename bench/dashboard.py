"""Staff console benchmark: the sync-health dashboard and the admin's event search on 1M events.

    .venv/bin/python bench/dashboard.py              # 1,000,000 events, database dropped at the end
    .venv/bin/python bench/dashboard.py --keep       # ... kept, and reused by the next run
    .venv/bin/python bench/dashboard.py --reload     # load the data again

Its own MariaDB database (`--database-url`, default bench_dashboard_console; dropped at the end
unless `--keep`), loaded with LOAD DATA LOCAL INFILE when it doesn't hold `--events` events:
50,000 profiles, events received over the last 30 days (seeded), 95% sent 1 s to 10 min after
they arrived, 2% pending, 2% failed for six reasons (each error text naming its own email or
position), 1% skipped; half carry a uniqueId.

Phases, in one run so the figures share the machine's state:
1. The snapshot (what beat computes every DASHBOARD_REFRESH_SECONDS, off the request path):
   median of 3 computations.
2. Pages, through Django's test client as a logged-in superuser, after a warm-up: p50 / p95 of
   the dashboard, the admin index (with its sync-health summary), the failed events of one
   reason, a status over the last 30 days (the list's date filter; page 3 for failed), and the
   baseline: admin's list of groups (an empty table: a trivial admin page).
3. Search: EXPLAIN and timings of the event list searched by an email prefix and by an exact
   uniqueId (the index-backed searches of the event admin).
Prints the dashboard's p95 against the 300 ms target and as a ratio of the baseline.
"""

import argparse
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchenv import (
    add_keep_option,
    cleanup_at_exit,
    database_name,
    database_prepare,
    django_setup,
    explain_rows,
    percentile,
    plan_line,
    server_connection,
)

TARGET_MS = 300.0
SEED = 20261129
DAYS = 30
REASONS = [
    "HTTP 400: Invalid input. '{email}' is not a valid email "
    "(/data/attributes/events-bulk-create/data/{n}/attributes/profile)",
    "HTTP 400: Metric name '{email}' is too long (/data/attributes/metric)",
    "HTTP 503: Service Unavailable (gave up after 8 attempts)",
    "HTTP 429: Too many requests (gave up after 8 attempts)",
    "Not sent: eventAttributes: a string is over Klaviyo's 100 KB limit",
    "HTTP 409: Duplicate profile {n} for {email}",
]
SKIPPED_ERROR = "Not sent: KLAVIYO_API_KEY is not configured"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events (1,000,000)")
    parser.add_argument("--profiles", type=int, default=50_000, help="profiles (50,000)")
    parser.add_argument("--requests", type=int, default=30, help="requests per page (30)")
    parser.add_argument("--reload", action="store_true", help="load the data even if present")
    add_keep_option(parser.add_argument)
    parser.add_argument(
        "--database-url",
        default="mysql://root@127.0.0.1:3306/bench_dashboard_console",
        help="MariaDB URL",
    )
    return parser.parse_args()


def email_of(index: int) -> str:
    return f"user{index:05d}@example.com"


def event_row(rng: random.Random, event_id: str, now: datetime, profiles: int) -> str:
    profile = rng.randrange(profiles)
    email = email_of(profile)
    created = now - timedelta(seconds=rng.random() * DAYS * 86400)
    stamp = created.strftime("%Y-%m-%d %H:%M:%S.%f")
    roll = rng.random()
    attempts, error, synced, status = 1, "", r"\N", "sent"
    if roll < 0.95:
        synced = (created + timedelta(seconds=rng.expovariate(1 / 30) + 1)).strftime(
            "%Y-%m-%d %H:%M:%S.%f"
        )
        synced = min(synced, now.strftime("%Y-%m-%d %H:%M:%S.%f"))
    elif roll < 0.97:
        status, attempts = "pending", 0
    elif roll < 0.99:
        status = "failed"
        reason = REASONS[int(rng.random() ** 2 * len(REASONS))]
        error = reason.format(email=email, n=rng.randrange(1000))
    else:
        status, error, attempts = "skipped", SKIPPED_ERROR, 0
    unique_id = f"order-{event_id[:12]}" if rng.random() < 0.5 else r"\N"
    return (
        f'{event_id}\tPurchase\t{email}\t{profile + 1}\t{{"amount": 10}}\t{{}}\t{stamp}\t'
        f"{unique_id}\t{status}\t{attempts}\t{error}\t{stamp}\t{stamp}\t{synced}\n"
    )


def load(args: argparse.Namespace) -> None:
    from events.models import Event, Profile

    rng = random.Random(SEED)
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / "bench_dashboard_console"
    folder.mkdir(exist_ok=True)
    now = datetime.now(UTC).replace(tzinfo=None)
    profiles_file, events_file = folder / "profiles.tsv", folder / "events.tsv"
    with profiles_file.open("w") as out:
        for index in range(args.profiles):
            email = email_of(index)
            out.write(f"{index + 1}\t{email}\t{email}\t{{}}\tsent\t\t{now}\t{now}\n")
    ids = sorted(uuid.UUID(int=rng.getrandbits(128), version=4).hex for _ in range(args.events))
    with events_file.open("w") as out:
        for event_id in ids:
            out.write(event_row(rng, event_id, now, args.profiles))
    server = server_connection(args.database_url, local_infile=1)
    cursor = server.cursor()
    cursor.execute(f"USE `{database_name(args.database_url)}`")
    cursor.execute("SET FOREIGN_KEY_CHECKS = 0, UNIQUE_CHECKS = 0")
    for model in (Event, Profile):
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
        "unique_id, sync_status, attempts, last_error, created_at, last_attempt_at, synced_at)",
        [str(events_file)],
    )
    cursor.execute(f"ANALYZE TABLE {Event._meta.db_table}")
    cursor.fetchall()
    server.commit()
    server.close()
    print(f"  loaded in {time.perf_counter() - started:.1f} s")
    profiles_file.unlink()
    events_file.unlink()


def time_get(client, path: str, count: int) -> list[float]:
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return timings


def search_plans(client, path: str, term: str) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from events.models import Event

    with CaptureQueriesContext(connection) as context:
        client.get(path)
    table = Event._meta.db_table
    plans = []
    for query in context.captured_queries:
        if f"`{table}`" not in query["sql"] or term.lower() not in query["sql"]:
            continue
        for plan in explain_rows(query["sql"]):
            if plan["table"] == table:
                plans.append(f"select_type={plan['select_type']}, {plan_line(plan)}")
    return plans


def main() -> None:
    args = parse_args()
    django_setup(database_url=args.database_url, CELERY_BROKER_URL="", ALLOWED_HOSTS="testserver")
    database_prepare(args.database_url)
    cleanup_at_exit(database_url=args.database_url, keep=args.keep)
    from django.contrib.auth import get_user_model
    from django.test import Client

    from console.models import SyncHealthSnapshot
    from console.services import sync_health_refresh
    from events.failures import failure_reasons_fill
    from events.models import Event

    if args.reload or Event.objects.count() != args.events:
        print(f"Loading {args.events:,} events and {args.profiles:,} profiles")
        load(args)
    else:
        print(f"Reusing the {args.events:,} events already loaded (--reload to load again)")

    SyncHealthSnapshot.objects.all().delete()
    # What migration 0005 does for rows stored before it: their failure reasons (untimed).
    started = time.perf_counter()
    filled = failure_reasons_fill()
    print(
        f"  failure reasons of {filled:,} loaded rows filled in "
        f"{time.perf_counter() - started:.1f} s"
    )
    computes = []
    for _ in range(3):
        snapshot = sync_health_refresh()
        computes.append(snapshot.compute_ms)
    print(
        f"\nSnapshot (beat, off the request path): median {statistics.median(computes):.0f} ms "
        f"of {', '.join(f'{ms:.0f}' for ms in computes)}"
    )
    figures = snapshot.figures
    print(
        f"  counts {figures['events']}; {len(figures['failures'])} failure reasons; "
        f"last 24 h: {sum(figures['received']):,} received, {sum(figures['delivered']):,} "
        f"delivered, delay p50 {figures['delay_p50_day']:.1f} s, "
        f"p95 {figures['delay_p95_day']:.1f} s"
    )

    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    reason = figures["failures"][0]
    # The list's date filter for the last 30 days: most of the loaded events.
    today = datetime.now(UTC).date()
    period = (
        f"created_at__gte={today - timedelta(days=30)}&created_at__lt={today + timedelta(days=1)}"
    )
    pages = {
        "baseline /admin/auth/group/": "/admin/auth/group/",
        "dashboard": "/admin/sync-health/",
        "event list, no filter": "/admin/events/event/",
        "admin index (summary)": "/admin/",
        "failed events of one reason": (
            f"/admin/events/event/?sync_status__exact=failed&reason={reason['key']}"
        ),
        "failed, received in 30 days, p. 3": (
            f"/admin/events/event/?sync_status__exact=failed&{period}&p=3"
        ),
        "pending, received in 30 days": f"/admin/events/event/?sync_status__exact=pending&{period}",
        "search: email prefix": "/admin/events/event/?q=user0424",
        "search: common prefix": "/admin/events/event/?q=user",
        "search: exact uniqueId": "/admin/events/event/?q="
        + (Event.objects.filter(unique_id__isnull=False).values_list("unique_id", flat=True)[0]),
    }
    for path in pages.values():
        time_get(client, path, 3)  # warm-up: templates, buffer pool
    print(f"\n{args.requests} requests each, milliseconds:")
    print(f"  {'page':<36}{'p50':>8}{'p95':>8}{'x base':>8}")
    results = {}
    for name, path in pages.items():
        timings = time_get(client, path, args.requests)
        results[name] = (statistics.median(timings), percentile(timings, 0.95))
    base_p95 = results["baseline /admin/auth/group/"][1]
    for name, (p50, p95) in results.items():
        print(f"  {name:<36}{p50:>8.1f}{p95:>8.1f}{p95 / base_p95:>7.1f}x")
    dashboard_p95 = results["dashboard"][1]
    verdict = "OK" if dashboard_p95 < TARGET_MS else "OVER TARGET"
    print(f"  dashboard p95 {dashboard_p95:.1f} ms vs target {TARGET_MS:.0f} ms: {verdict}")

    print("\nSearch plans (EXPLAIN of the statements the list ran on the events table):")
    for name in ("search: email prefix", "search: common prefix", "search: exact uniqueId"):
        term = pages[name].split("q=", 1)[1]
        for plan in search_plans(client, pages[name], term):
            print(f"  {name}: {plan}")


if __name__ == "__main__":
    main()
