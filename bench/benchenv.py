"""What every benchmark process shares: production-like settings on the benchmark's own database."""

import atexit
import http.client
import os
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def django_setup(*, database_url: str, **overrides: str) -> None:
    """Points this process at `database_url` with DEBUG off and no Klaviyo key, then starts
    Django; `overrides` are further environment settings (broker, log level, ...)."""
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "KLAVIYO_API_KEY": "",
            "DEBUG": "false",
            "SECRET_KEY": "bench-secret-key",
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "klaviyo_backend.settings",
            **overrides,
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def database_prepare(database_url: str) -> None:
    """Creates the benchmark's MySQL/MariaDB database if missing (SQLite makes its file) and
    migrates it; call after django_setup."""
    from django.core.management import call_command

    if database_url.startswith("mysql://"):
        name = database_name(database_url)
        _server_execute(
            database_url, f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"
        )
    call_command("migrate", interactive=False, verbosity=0)


def cleanup_at_exit(*, database_url: str, broker: str = "", keep: bool = False) -> None:
    """When this process exits (done, failed or interrupted), the benchmark's database is
    dropped (a MariaDB database, or a SQLite file and its journals) and its Redis db emptied:
    nothing is left on a shared server for the next run. `keep`: both left, to look at."""
    if not keep:
        atexit.register(_cleanup, database_url, broker)


def _cleanup(database_url: str, broker: str) -> None:
    from django.db import connections

    settings_dict = connections["default"].settings_dict  # the file of a SQLite URL, resolved
    connections.close_all()
    if database_url.startswith("mysql://"):
        _server_execute(database_url, f"DROP DATABASE IF EXISTS `{database_name(database_url)}`")
    elif database_url.startswith("sqlite:") and (name := str(settings_dict["NAME"])) != ":memory:":
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(name + suffix).unlink(missing_ok=True)
    done = f"cleaned up: database {database_url} dropped"
    if broker.startswith(("redis://", "rediss://")):
        import redis

        redis.Redis.from_url(broker).flushdb()
        done += f", {broker} emptied"
    print(done)


def add_keep_option(add_argument: Callable[..., Any]) -> None:
    """`--keep`, for a benchmark that cleans up (cleanup_at_exit): `parser.add_argument`."""
    add_argument("--keep", action="store_true", help="leave its database and Redis db as they end")


def server_connection(database_url: str, **options: Any) -> Any:
    """A connection to the MariaDB server of `database_url`, in no database unless `options`
    name one (`database=`), utf8mb4."""
    import MySQLdb

    url = urllib.parse.urlparse(database_url)
    return MySQLdb.connect(
        host=url.hostname or "127.0.0.1",
        port=url.port or 3306,
        user=urllib.parse.unquote(url.username or "root"),
        password=urllib.parse.unquote(url.password or ""),
        charset="utf8mb4",
        **options,
    )


def database_name(database_url: str) -> str:
    return urllib.parse.urlparse(database_url).path.lstrip("/")


def _server_execute(database_url: str, statement: str) -> None:
    """One statement on the MariaDB server of `database_url`, outside any database."""
    server = server_connection(database_url)
    try:
        server.cursor().execute(statement)
    finally:
        server.close()


def run_timed(target: Callable[[], None], threads: int) -> float:
    """Runs `target` in that many threads at once; the seconds until the last one ended."""
    workers = [threading.Thread(target=target) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


def post_all(
    url: str, path: str, bodies: list[bytes], *, api_key: str, clients: int, timeout: float
) -> float:
    """POSTs every body to `path` from `clients` threads over keep-alive connections, each
    answer expected 201; returns the elapsed seconds (SystemExit naming the first failures)."""
    target = urllib.parse.urlparse(url)
    queue = list(enumerate(bodies))
    lock = threading.Lock()
    failures: list[str] = []
    headers = {"Content-Type": "application/json", "X-API-Key": api_key}

    def client() -> None:
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=timeout)
        while True:
            with lock:
                if not queue or failures:
                    return
                index, body = queue.pop()
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            if response.status != 201:
                with lock:
                    failures.append(f"request {index}: {response.status} {answer[:300]!r}")

    elapsed = run_timed(client, clients)
    if failures:
        raise SystemExit("API phase failed: " + "; ".join(failures[:3]))
    return elapsed


def percentile(values: list[float], fraction: float) -> float:
    """The value at `fraction` (0.95: p95) of the sorted values, the nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def raw_timings(statements: list[str]) -> list[float]:
    """Milliseconds each SQL statement takes, executed and fetched over Django's connection."""
    from django.db import connection

    timings = []
    with connection.cursor() as cursor:
        for statement in statements:
            started = time.perf_counter()
            cursor.execute(statement)
            cursor.fetchall()
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def captured_sql(client: Any, path: str, queries: list[dict[str, Any]], table: str) -> list[str]:
    """The SQL that GETs of `path` with each query string ran on `table`, as sent to the
    server (an untimed pass, for raw_timings and EXPLAIN)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    captured: list[str] = []
    for query in queries:
        with CaptureQueriesContext(connection) as context:
            response = client.get(path, query)
            assert response.status_code == 200, response.content[:300]
        captured += [q["sql"] for q in context.captured_queries if table in q["sql"]]
    return captured


def explain_rows(statement: str) -> list[dict[str, Any]]:
    """EXPLAIN of one statement, a dict per row."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + statement)
        columns = [column[0] for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def plan_line(plan: dict[str, Any]) -> str:
    """What matters of an EXPLAIN row: access type, index, rows, Extra."""
    return ", ".join(f"{key}={plan.get(key)}" for key in ("type", "key", "rows", "Extra"))
