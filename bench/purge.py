"""Purge benchmark: the batched purge vs. one raw DELETE, with inserts going on meanwhile.

    .venv/bin/python bench/purge.py                          # 1,000,000 expired + 100,000 fresh
    .venv/bin/python bench/purge.py --expired 100000 --fresh 10000 --batch-size 2000

It uses its own MariaDB database (`--database-url`, default bench_purge on 127.0.0.1), which it
drops and fills with generated rows (INSERT ... SELECT over MariaDB's seq_1_to_N tables; the
same rows every time): `--expired` events created 8 to 38 days ago, `--fresh` events of the
last 6 days; 200,000 profiles with expired events only (they go) and 20,000 with both (they stay).
Ids are MD5 hashes: random order in the primary key, like uuid4s. At the end the database is
dropped and the broker's Redis db emptied, unless `--keep`.

Phases, in one run so that the figures share the machine's state:
1. Idle: a second process inserts single events through `event_ingest` (the service POST
   /events calls) at `--insert-rate` per second for a few seconds; its latency is the baseline.
2. Purge: `purge_expired_data` in its own process (its peak RSS is the purge's), the inserter
   running meanwhile. Every event the inserter stored must still be there afterwards.
3. The same data set loaded again, then one raw `DELETE FROM events_event WHERE created_at < X`,
   the inserter running meanwhile.
Prints rows/s of both deletes and their ratio, the purge's peak memory, and the inserts' p50 /
p99 / max latency per phase, against the targets (peak < 150 MB, p99 insert < 100 ms).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchenv import (
    add_keep_option,
    cleanup_at_exit,
    database_name,
    django_setup,
    server_connection,
)

ROOT = Path(__file__).resolve().parent.parent
# The data set's "now": fixed, so that every load makes the same rows.
ANCHOR = datetime(2025, 9, 15, 2, 0, tzinfo=UTC)
RETENTION_DAYS = 7
OLD_ONLY_PROFILES = 200_000
MIXED_PROFILES = 20_000
LOAD_CHUNK = 100_000
TARGET_PEAK_MB = 150.0
TARGET_P99_MS = 100.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--expired", type=int, default=1_000_000, help="expired events (1M)")
    parser.add_argument("--fresh", type=int, default=100_000, help="fresh events (100,000)")
    parser.add_argument("--batch-size", type=int, default=5000, help="purge batch size (5000)")
    parser.add_argument("--insert-rate", type=float, default=50.0, help="inserts/s (50)")
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="baseline length (5 s)")
    parser.add_argument(
        "--database-url", default="mysql://root@127.0.0.1:3306/bench_purge", help="MariaDB URL"
    )
    parser.add_argument(
        "--broker-url",
        default="redis://127.0.0.1:6379/4",
        help="where the inserter's events queue their Klaviyo sync (emptied afterwards)",
    )
    add_keep_option(parser.add_argument)
    parser.add_argument("--role", choices=["main", "purge", "insert"], default="main")
    parser.add_argument("--work-dir", help=argparse.SUPPRESS)
    return parser.parse_args()


def configure_django(args: argparse.Namespace) -> None:
    django_setup(
        database_url=args.database_url,
        CELERY_BROKER_URL=args.broker_url,
        LOG_LEVEL="ERROR",
        DATA_RETENTION_DAYS=str(RETENTION_DAYS),
    )


# --- Loading --------------------------------------------------------------------------------------


def database_create(args: argparse.Namespace) -> None:
    name = database_name(args.database_url)
    connection = server_connection(args.database_url, autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    connection.close()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def uuid_from(hex32: str) -> str:
    """SQL turning 32 random hex digits into a version-4 UUID's text form, as uuid4() makes
    (MariaDB's uuid type wants the dashes and an RFC 4122 variant)."""
    return (
        f"CONCAT(SUBSTR({hex32}, 1, 8), '-', SUBSTR({hex32}, 9, 4), '-4', SUBSTR({hex32}, 14, 3), "
        f"'-', ELT(1 + CONV(SUBSTR({hex32}, 17, 1), 16, 10) %% 4, '8', '9', 'a', 'b'), "
        f"SUBSTR({hex32}, 18, 3), '-', SUBSTR({hex32}, 21, 12))"
    )


def event_columns(*, fresh: bool) -> tuple[str, str, list]:
    """Column list and SELECT expressions over `seq` for generated events; columns this script
    does not know get their model default, so the load follows the model."""
    from django.db import connection

    from events.models import Event

    anchor = ANCHOR.replace(tzinfo=None)
    if fresh:
        # The last six days; profiles that also have expired events (they stay).
        created = "DATE_SUB(%s, INTERVAL (seq * 7) %% 518400 SECOND)"
        profile = f"{OLD_ONLY_PROFILES} + 1 + seq %% {MIXED_PROFILES}"
        salt = "fresh"
    else:
        # 8 to 38 days old: all past the 7-day retention.
        created = "DATE_SUB(%s, INTERVAL 691200 + (seq * 13) %% 2592000 SECOND)"
        profile = f"1 + seq %% {OLD_ONLY_PROFILES + MIXED_PROFILES}"
        salt = "expired"
    known = {
        "id": (f"{uuid_from('MD5(CONCAT(' + repr(salt) + ', seq))')}", []),
        "event_name": ("ELT(1 + seq %% 4, 'Purchase', 'Page View', 'Add to Cart', 'Login')", []),
        "email": (f"CONCAT('person', {profile}, '@example.com')", []),
        "profile_id": (profile, []),
        "event_attributes": ('\'{"amount": 10, "currency": "USD"}\'', []),
        "profile_attributes": ("'{}'", []),
        "time": (created, [anchor]),
        "created_at": (created, [anchor]),
        # 2 in 100 never reached Klaviyo.
        "sync_status": ("IF(seq %% 50 = 0, 'pending', 'sent')", []),
    }
    columns, expressions, params = [], [], []
    for field in Event._meta.concrete_fields:
        expression, values = known.get(field.column, ("%s", None))
        if values is None:
            values = [field.get_db_prep_save(field.get_default(), connection)]
        columns.append(field.column)
        expressions.append(expression)
        params.extend(values)
    return ", ".join(columns), ", ".join(expressions), params


def data_load(args: argparse.Namespace) -> float:
    """Fills the tables; returns the seconds it took."""
    from django.db import connection

    started = time.perf_counter()
    anchor = ANCHOR.replace(tzinfo=None)
    old = anchor - timedelta(days=40)
    total = OLD_ONLY_PROFILES + MIXED_PROFILES
    with connection.cursor() as cursor:
        cursor.execute("SET foreign_key_checks = 0, unique_checks = 0")
        cursor.execute("DELETE FROM events_event")
        cursor.execute("DELETE FROM events_profile")
        cursor.execute(
            "INSERT INTO events_profile (id, identity, email, attributes, sync_status, "
            "last_error, created_at, updated_at) "
            "SELECT seq, CONCAT('person', seq, '@example.com'), "
            "CONCAT('person', seq, '@example.com'), '{\"firstName\": \"Jo\"}', 'sent', '', %s, "
            f"IF(seq > {OLD_ONLY_PROFILES}, %s, %s) FROM seq_1_to_{total}",
            [old, anchor - timedelta(hours=1), old],
        )
        for fresh, count in ((False, args.expired), (True, args.fresh)):
            columns, expressions, params = event_columns(fresh=fresh)
            for first in range(0, count, LOAD_CHUNK):
                last = min(first + LOAD_CHUNK, count)
                cursor.execute(
                    f"INSERT INTO events_event ({columns}) SELECT {expressions} "
                    f"FROM seq_{first + 1}_to_{last}",
                    params,
                )
        cursor.execute("SET foreign_key_checks = 1, unique_checks = 1")
        cursor.execute("ANALYZE TABLE events_event, events_profile")
        cursor.fetchall()
    return time.perf_counter() - started


# --- The inserter ---------------------------------------------------------------------------------


def run_inserter(args: argparse.Namespace) -> None:
    """Inserts single events at --insert-rate until the stop file appears; half of them for
    profiles the purge is deleting (the race the purge must survive), half for new people.
    Writes each insert's latency and event id."""
    from django.db import DatabaseError

    from events.services import event_ingest

    work = Path(args.work_dir)
    latencies, ids, failures = [], [], []
    interval = 1.0 / args.insert_rate
    number = 0
    next_at = time.perf_counter()
    while not (work / "stop").exists():
        number += 1
        if number % 2:
            email = f"person{1 + number * 7919 % OLD_ONLY_PROFILES}@example.com"
        else:
            email = f"new{os.getpid()}-{number}@example.com"
        data = {
            "event_name": "Purchase",
            "email": email,
            "event_attributes": {"amount": number},
            "profile_attributes": {"firstName": "Bench"},
        }
        started = time.perf_counter()
        try:
            ids.append(str(event_ingest(data=data).event.id))
        except DatabaseError as error:  # a lock wait timeout: what the API would answer 500 to
            failures.append(f"{type(error).__name__}: {error}")
        latencies.append((time.perf_counter() - started) * 1000)
        if number == 20:
            (work / "ready").touch()
        next_at += interval
        time.sleep(max(0.0, next_at - time.perf_counter()))
    # The first inserts warm the connection and the code paths up: not measured.
    result = {"latencies": latencies[20:], "ids": ids, "failures": failures}
    (work / "inserts.json").write_text(json.dumps(result))


class Inserter:
    def __init__(self, args: argparse.Namespace) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="bench-purge-"))
        command = [sys.executable, __file__, "--role", "insert", "--work-dir", str(self.work)]
        command += ["--database-url", args.database_url, "--broker-url", args.broker_url]
        command += ["--insert-rate", str(args.insert_rate)]
        self.process = subprocess.Popen(command)
        while not (self.work / "ready").exists():
            if self.process.poll() is not None:
                raise SystemExit("the inserter stopped before it was ready")
            time.sleep(0.05)

    def stop(self) -> tuple[list[float], list[str], list[str]]:
        (self.work / "stop").touch()
        if self.process.wait(timeout=60) != 0:
            raise SystemExit("the inserter failed")
        result = json.loads((self.work / "inserts.json").read_text())
        return result["latencies"], result["ids"], result["failures"]


# --- The purge, in its own process ------------------------------------------------------------


def run_purge(args: argparse.Namespace) -> None:
    import psutil

    from cleanup.models import PurgeTrigger
    from cleanup.services import PurgeProgress, purge_expired_data

    process = psutil.Process()
    phases: dict[str, float] = {}
    rss: list[float] = []
    started = time.perf_counter()

    def on_progress(progress: PurgeProgress) -> None:
        phases[progress.phase] = time.perf_counter() - started
        rss.append(process.memory_info().rss / 2**20)

    run = purge_expired_data(
        trigger=PurgeTrigger.COMMAND,
        batch_size=args.batch_size,
        now=ANCHOR,
        on_progress=on_progress,
    )
    print(
        json.dumps(
            {
                "events_deleted": run.events_deleted,
                "unsynced_events_deleted": run.unsynced_events_deleted,
                "profiles_deleted": run.profiles_deleted,
                "events_seconds": phases["events"],
                "total_seconds": phases["done"],
                "rss_first_batch_mb": rss[0],
                "rss_last_batch_mb": rss[-1],
                # Linux reports ru_maxrss in kilobytes.
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def purge_in_child(args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--role", "purge", "--batch-size", str(args.batch_size)]
    command += ["--database-url", args.database_url, "--broker-url", args.broker_url]
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        raise SystemExit(f"the purge failed:\n{finished.stderr}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


# --- Main -----------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def latency_line(name: str, latencies: list[float], failures: list[str]) -> str:
    line = (
        f"  {name:<24} {len(latencies):>6} inserts   p50 {statistics.median(latencies):6.1f} ms"
        f"   p99 {percentile(latencies, 0.99):6.1f} ms   max {max(latencies):7.1f} ms"
    )
    if failures:
        line += f"   {len(failures)} FAILED, e.g. {failures[0]}"
    return line


def main(args: argparse.Namespace) -> None:
    from django.db import connection

    from events.models import Event
    from testkit.procs import broker_flush

    print(f"Database {args.database_url}: {args.expired:,} expired + {args.fresh:,} fresh events")
    database_create(args)
    cleanup_at_exit(database_url=args.database_url, broker=args.broker_url, keep=args.keep)
    print(f"Loaded in {data_load(args):.0f} s.")
    connection.close()

    inserter = Inserter(args)
    time.sleep(args.idle_seconds)
    idle_latencies, _, idle_failures = inserter.stop()

    inserter = Inserter(args)
    purge = purge_in_child(args)
    purge_latencies, inserted, purge_failures = inserter.stop()
    lost = len(inserted) - Event.objects.filter(id__in=inserted).count()
    connection.close()

    print(f"Loading again for the raw DELETE ({data_load(args):.0f} s).")
    connection.close()
    inserter = Inserter(args)
    raw = server_connection(
        args.database_url, database=connection.settings_dict["NAME"], autocommit=True
    )
    cutoff = (ANCHOR - timedelta(days=RETENTION_DAYS)).replace(tzinfo=None)
    started = time.perf_counter()
    with raw.cursor() as cursor:
        raw_deleted = cursor.execute("DELETE FROM events_event WHERE created_at < %s", [cutoff])
    raw_seconds = time.perf_counter() - started
    raw.close()
    raw_latencies, _, raw_failures = inserter.stop()
    broker_flush(args.broker_url)  # the sync tasks the inserts queued: no worker runs them

    purge_rate = purge["events_deleted"] / purge["events_seconds"]
    raw_rate = raw_deleted / raw_seconds
    print()
    print(f"Purge (batches of {args.batch_size:,}, one process):")
    print(
        f"  events    {purge['events_deleted']:>9,} in {purge['events_seconds']:6.1f} s "
        f"= {purge_rate:>9,.0f} rows/s ({purge['unsynced_events_deleted']:,} never sent)"
    )
    print(
        f"  profiles  {purge['profiles_deleted']:>9,}; whole purge {purge['total_seconds']:.1f} s"
    )
    print(
        f"  peak RSS  {purge['peak_rss_mb']:.0f} MB (after the first batch "
        f"{purge['rss_first_batch_mb']:.0f} MB, after the last {purge['rss_last_batch_mb']:.0f} MB)"
        f"   target < {TARGET_PEAK_MB:.0f} MB: "
        f"{'met' if purge['peak_rss_mb'] < TARGET_PEAK_MB else 'MISSED'}"
    )
    print("Raw DELETE FROM events_event WHERE created_at < X (one statement):")
    print(f"  events    {raw_deleted:>9,} in {raw_seconds:6.1f} s = {raw_rate:>9,.0f} rows/s")
    print(f"Purge / raw rows/s: {purge_rate / raw_rate:.2f}")
    print(f"Single inserts through event_ingest at {args.insert_rate:g}/s:")
    print(latency_line("idle (baseline)", idle_latencies, idle_failures))
    print(latency_line("during the purge", purge_latencies, purge_failures))
    print(latency_line("during the raw DELETE", raw_latencies, raw_failures))
    p99 = percentile(purge_latencies, 0.99)
    print(
        f"p99 insert during the purge {p99:.1f} ms, target < {TARGET_P99_MS:.0f} ms: "
        f"{'met' if p99 < TARGET_P99_MS else 'MISSED'}"
    )
    print(f"Events inserted during the purge and lost: {lost} of {len(inserted)}")


if __name__ == "__main__":
    arguments = parse_args()
    configure_django(arguments)
    {"main": main, "purge": run_purge, "insert": run_inserter}[arguments.role](arguments)
