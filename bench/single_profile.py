"""Where one POST /events goes: the service's WSGI application called in process, as gunicorn
calls it, on MariaDB with tasks queued on Redis and production settings (DEBUG off, JSON logs).

    .venv/bin/python bench/single_profile.py     # 1,000 requests, then 300 under cProfile
    .venv/bin/python bench/single_profile.py --requests 3000

Prints CPU milliseconds per request (this process: no server, no client, no waiting counted),
the round trips to MariaDB and Redis each request makes, by kind, and the cProfile breakdown by
stage. Uses its own database (`bench_single_profile`, dropped at the end) and Redis db 7.
"""

import argparse
import collections
import cProfile
import io
import os
import pstats
import sys
import time
from typing import Any

from benchenv import database_prepare, django_setup
from single import BENCH_KEY, make_bodies

# (label, file suffix, function): cumulative time of these frames, within one request.
STAGES = [
    ("middleware: request log + metrics", "core/middleware.py", "_record"),
    ("auth (API key)", "rest_framework/request.py", "_authenticate"),
    ("throttle", "rest_framework/views.py", "check_throttles"),
    ("JSON parse", "core/parsers.py", "parse"),
    ("input validation", "events/validators.py", "event_input_validate"),
    ("profile upsert", "events/profile_services.py", "profiles_upsert"),
    ("event insert", "events/services.py", "_events_insert"),
    ("transaction begin", "django/db/transaction.py", "__enter__"),
    ("commit (and on-commit hooks)", "django/db/transaction.py", "__exit__"),
    ("  of which queueing for Klaviyo", "klaviyo_sync/tasks.py", "queue_event_sync"),
    ("connection health check", "django/db/backends/base/base.py", "close_if_health_check_failed"),
    ("output serializer", "rest_framework/serializers.py", "data"),
    ("JSON render", "rest_framework/response.py", "rendered_content"),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="timed requests (1,000)")
    parser.add_argument("--profiled", type=int, default=300, help="requests under cProfile (300)")
    parser.add_argument("--mysql", default="mysql://root@127.0.0.1:3306", help="MariaDB server")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/7", help="Redis for tasks")
    return parser.parse_args()


def count_round_trips() -> collections.Counter:
    """Counts the calls that each cost a round trip, by patching the client libraries."""
    import MySQLdb.connections
    import redis.connection

    counts: collections.Counter = collections.Counter()

    def counted(cls: Any, name: str, label: str) -> None:
        original = getattr(cls, name)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            if label == "sql":
                counts[_statement_kind(args[0])] += 1
            elif name != "autocommit" or self.get_autocommit() != bool(args[0]):
                # mysqlclient sends autocommit only when it changes the session's mode.
                counts[label] += 1
            return original(self, *args, **kwargs)

        setattr(cls, name, wrapper)

    connection = MySQLdb.connections.Connection
    counted(connection, "query", "sql")
    for name in ("ping", "commit", "rollback", "autocommit"):
        counted(connection, name, f"mysql {name}")
    counted(redis.connection.AbstractConnection, "send_packed_command", "redis command")
    return counts


def _statement_kind(query: Any) -> str:
    text = query.decode(errors="replace") if isinstance(query, bytes) else str(query)
    words = text.split()
    return "sql " + " ".join(words[: 2 if words[0].upper() in ("SET", "SELECT") else 1]).upper()


def main() -> None:
    args = parse_args()
    database = "bench_single_profile"
    database_url = f"{args.mysql}/{database}"
    django_setup(
        database_url=database_url,
        CELERY_BROKER_URL=args.broker,
        API_KEYS=BENCH_KEY,
        LOG_LEVEL="INFO",
        # Events are queued as with a key in production (nothing is sent: no worker runs).
        KLAVIYO_API_KEY="bench-single-klaviyo-key",
        KLAVIYO_BASE_URL="http://127.0.0.1:9/api",
    )
    from django.db import connection

    database_prepare(database_url)
    import logging

    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    # The request log line is formatted and written as in production, to nowhere.
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115
    bodies = make_bodies(args.requests + args.profiled + 60, 1000)

    def request(body: bytes) -> None:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/events",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "3000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_X_API_KEY": BENCH_KEY,
            "HTTP_HOST": "127.0.0.1",
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
        }
        statuses: list[str] = []
        b"".join(application(environ, lambda status, headers: statuses.append(status)))
        assert statuses[0].startswith("201"), statuses

    try:
        for body in bodies[:50]:  # warm up: imports, connections, caches
            request(body)
        timed = bodies[50 : 50 + args.requests]
        cpu, wall = time.process_time(), time.perf_counter()
        for body in timed:
            request(body)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(
            f"{len(timed)} requests in process: {cpu * 1000 / len(timed):.2f} CPU-ms and "
            f"{wall * 1000 / len(timed):.2f} ms per request"
        )
        # CPU time, not wall: what waits on MariaDB and Redis shows in the round trips below.
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for body in bodies[50 + args.requests : -10]:
            request(body)
        profiler.disable()
        stats = pstats.Stats(profiler)
        entries = stats.stats  # type: ignore[attr-defined]
        total = max(entry[3] for entry in entries.values())
        per_request = total * 1000 / args.profiled
        print(f"under cProfile: {per_request:.2f} CPU-ms per request, by stage (cumulative):")
        for label, suffix, function in STAGES:
            seconds = sum(
                entry[3]
                for (filename, _, name), entry in entries.items()
                if name == function and filename.endswith(suffix)
            )
            print(f"  {label:<36} {seconds * 1000 / args.profiled:6.2f} ms  {seconds / total:6.1%}")
        print("top functions by own time:")
        stats.sort_stats("tottime").print_stats(15)
        counts = count_round_trips()
        for body in bodies[-10:]:
            request(body)
        trips = ", ".join(f"{kind} {n / 10:g}" for kind, n in sorted(counts.items()))
        print(f"round trips per request: {sum(counts.values()) / 10:g} ({trips})")
    finally:
        import redis

        redis.Redis.from_url(args.broker).delete("celery")  # the tasks no worker took
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")


if __name__ == "__main__":
    main()
