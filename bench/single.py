"""Single-event benchmark: POST /events one event at a time, against a floor and today's code.

    .venv/bin/python bench/single.py                    # 2,000 events per phase, 1 and 8 clients
    .venv/bin/python bench/single.py --baseline ../old --rounds 2   # and another checkout
    .venv/bin/python bench/single.py --url http://127.0.0.1:3000 --api-key KEY  # a running server
    .venv/bin/python bench/single.py --no-floor --clients 8 --rounds 6 \
        --variant 3x40:WEB_CONCURRENCY=3,WEB_THREADS=40   # sizing: this checkout, other settings

Each target is served the production way: `manage.py serve` (gunicorn with the project's settings,
DEBUG off, JSON request logs), on MariaDB, with tasks queued on Redis (`--broker`) and a Klaviyo
key whose base URL is a closed local port, with no worker running: every event is stored pending
and queued (its publish is part of what is measured), and nothing leaves the machine. Targets:
- service: this checkout (or `--url`: a server already running; its database is left as it is;
  `--url NAME=URL` repeated: several, say one per gunicorn worker model, the first as service);
- baseline: `--baseline DIR`, another checkout (say today's main), with DIR/.venv's Python;
- variants: `--variant NAME:VAR=VALUE,...`, this checkout again with those settings (sizing);
- floor: a bare WSGI app (bench/single_floor.py) served by this checkout's `manage.py serve`, so on
  the same gunicorn settings, doing only what one event must cost: parse the JSON, upsert the
  profile, insert the event, commit, one broker publish.

Phases are interleaved (for each round, for 1 then 8 clients, every target in turn), so that the
ratios compare figures taken under the same machine load. Each phase posts `--requests` events, one
per request, from that many client threads over keep-alive connections (they reconnect when the
server closes), bodies encoded before the clock; the tables and queues are emptied before each
phase, and after it every stored event must be pending and its id queued once (else the run
stops). Printed
per phase: events/s, latency p50/p95/p99, and CPU milliseconds per event of the server's processes
and of MariaDB (from /proc; MariaDB's include what other users of the machine make it do). Then,
per round, for 8 clients: service / baseline rate (target 2.5), the service's p95 (target < 30 ms)
and service / floor rate (target 0.5); with several rounds, the same judged on their medians.

Databases: `bench_single_<target>` on `--mysql` (created, migrated, dropped at the end unless
`--keep`); tasks go to a private memory-only redis-server (or `--broker`: the queues this run
filled are deleted at the end).
"""

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from benchenv import server_connection
from procstat import cpu_seconds, mariadb_pids, server_pids
from single_floor import FLOOR_QUEUE
from single_state import empty_tables, phase_check, queued_ids

ROOT = Path(__file__).resolve().parent.parent
BENCH_KEY = "bench-single-api-key"
TARGET_SPEEDUP, TARGET_P95_MS, TARGET_FLOOR_SHARE = 2.5, 30.0, 0.5
VARIANT = re.compile(r"(?!(service|baseline|floor):)\w+:\w+=[^,]*(,\w+=[^,]*)*")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="events per phase (2,000)")
    parser.add_argument("--clients", default="1,8", help="client threads per phase (1,8)")
    parser.add_argument("--rounds", type=int, default=1, help="times every phase runs (1)")
    parser.add_argument("--profiles", type=int, default=1000, help="distinct emails (1,000)")
    parser.add_argument("--baseline", default="", help="another checkout to compare with")
    parser.add_argument("--no-floor", action="store_true", help="leave the floor out")
    parser.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="[NAME=]URL",
        help="a running server instead of this checkout; repeatable",
    )
    parser.add_argument("--api-key", default=BENCH_KEY, help="X-API-Key for --url")
    parser.add_argument("--mysql", default="mysql://root@127.0.0.1:3306", help="MariaDB server")
    parser.add_argument(
        "--broker",
        default="",
        help="Redis for tasks (default: a private redis-server on a free port, stopped at the end)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment of every served target (say WEB_CONCURRENCY=3); repeatable",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:VAR=VALUE[,VAR=VALUE]",
        help="this checkout served again with other settings, as in the usage above; repeatable",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args()
    if bad := [variant for variant in args.variant if not VARIANT.fullmatch(variant)]:
        parser.error(f"--variant {bad[0]!r}: not NAME:VAR=VALUE[,VAR=VALUE] with a new NAME")
    return args


# --- Targets ----------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    url: str
    api_key: str = BENCH_KEY
    database: str = ""  # emptied before each phase; "" for --url
    process: subprocess.Popen | None = None
    results: dict[tuple[int, int], dict[str, float]] = field(default_factory=dict)


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(
    name: str, folder: Path, args: argparse.Namespace, tmp: str, app: str = "", env_extra: str = ""
) -> Target:
    """Creates and migrates the target's database, then starts `manage.py serve` in `folder`."""
    database = f"bench_single_{name}"
    server = server_connection(args.mysql)
    server.cursor().execute(f"DROP DATABASE IF EXISTS `{database}`")
    server.cursor().execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    server.close()
    python = folder / ".venv" / "bin" / "python"
    python = python if python.exists() else Path(sys.executable)
    env = {
        **os.environ,
        "DATABASE_URL": f"{args.mysql}/{database}",
        "CELERY_BROKER_URL": args.broker,
        "API_KEYS": BENCH_KEY,
        # Events are queued, as with a key in production; no worker runs to send them.
        "KLAVIYO_API_KEY": "bench-single-klaviyo-key",
        "KLAVIYO_BASE_URL": f"http://127.0.0.1:{free_port()}/api",  # nothing listens there
        "DEBUG": "false",
        "SECRET_KEY": "bench-single-secret-key",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "INFO",  # the production default: one JSON line per request
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(dir=tmp),
        **dict(pair.split("=", 1) for pair in [*args.env, *filter(None, env_extra.split(","))]),
    }
    env.pop("PYTHONPATH", None)
    subprocess.run([str(python), "manage.py", "migrate", "-v0"], cwd=folder, env=env, check=True)
    port = free_port()
    argv = [str(python), "manage.py", "serve", "--no-migrate", "--bind", "127.0.0.1"]
    argv += ["--port", str(port), *(("--app", app) if app else ())]
    with open(f"{tmp}/{name}.err", "w") as errors:  # the child keeps its own descriptor
        process = subprocess.Popen(
            argv, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=errors
        )
    target = Target(name=name, url=f"http://127.0.0.1:{port}", database=database, process=process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited: {Path(tmp, name + '.err').read_text()[-2000:]}")
        if len(server_pids(port)) > 1:  # master and at least a worker
            return target
        time.sleep(0.3)
    raise SystemExit(f"{name} did not start within 60 s")


# --- Load -------------------------------------------------------------------------------------


def make_bodies(count: int, profiles: int) -> list[bytes]:
    """Events as a shop's apps send them, one per request, each with its own uniqueId."""
    run, start = uuid.uuid4().hex[:8], datetime.now(UTC) - timedelta(hours=1)
    return [
        json.dumps(
            {
                "eventName": ("Placed Order", "Viewed Product", "Added to Cart")[index % 3],
                "email": f"shopper{index % profiles}@example.com",
                "eventAttributes": {"sku": f"SKU-{index % 97}", "price": 19.99, "currency": "USD"},
                "profileAttributes": {"firstName": f"First{index % profiles}", "plan": "vip"},
                "time": (start + timedelta(milliseconds=index)).isoformat().replace("+00:00", "Z"),
                "value": 19.99,
                "uniqueId": f"single-{run}-{index}",
            }
        ).encode()
        for index in range(count)
    ]


def post_all(target: Target, bodies: list[bytes], clients: int) -> tuple[float, list[float]]:
    """Posts every body from `clients` threads; returns the elapsed seconds and latencies."""
    address = urllib.parse.urlparse(target.url)
    headers = {"Content-Type": "application/json", "X-API-Key": target.api_key}
    next_index, lock = iter(range(len(bodies))), threading.Lock()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[str] = []
    ready = threading.Barrier(clients + 1)

    def client(mine: list[float]) -> None:
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        ready.wait()
        while not failures:
            with lock:
                index = next(next_index, None)
            if index is None:
                break
            started = time.perf_counter()
            try:
                connection.request("POST", "/events", body=bodies[index], headers=headers)
                response = connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as error:
                failures.append(f"{type(error).__name__}: {error}")
                break
            mine.append(time.perf_counter() - started)
            if response.status != 201:
                failures.append(f"{response.status} {answer[:300]!r}")
        connection.close()

    threads = [threading.Thread(target=client, args=(mine,)) for mine in latencies]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{target.name}: {len(failures)} failures, first: {failures[0]}")
    return elapsed, [value for mine in latencies for value in mine]


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def phase(args: argparse.Namespace, target: Target, clients: int) -> dict[str, float]:
    empty_tables(args.mysql, target.database)
    broker = redis.Redis.from_url(args.broker)
    queued_ids(broker)
    port = urllib.parse.urlparse(target.url).port
    warmup = make_bodies(max(20, 4 * clients), args.profiles)
    post_all(target, warmup, clients)  # connections, imports, first queries: not timed
    bodies = make_bodies(args.requests, args.profiles)
    web, db = server_pids(port), mariadb_pids()
    web_before, db_before = cpu_seconds(web), cpu_seconds(db)
    elapsed, latencies = post_all(target, bodies, clients)
    web_cpu, db_cpu = cpu_seconds(web) - web_before, cpu_seconds(db) - db_before
    messages = phase_check(args.mysql, target.name, target.database, broker)
    ordered = sorted(latencies)
    return {
        "rate": len(bodies) / elapsed,
        "p50": percentile(ordered, 0.5) * 1000,
        "p95": percentile(ordered, 0.95) * 1000,
        "p99": percentile(ordered, 0.99) * 1000,
        "web_cpu": web_cpu * 1000 / len(bodies),
        "db_cpu": db_cpu * 1000 / len(bodies),
        "messages": messages / (len(warmup) + len(bodies)),
    }


def report(targets: list[Target], args: argparse.Namespace, clients: list[int]) -> None:
    service = targets[0]
    others = {target.name: target for target in targets[1:]}
    for round_ in range(args.rounds):
        if 8 not in clients:
            break
        figures = service.results[(round_, 8)]
        line = [f"round {round_ + 1}, 8 clients: service p95 {figures['p95']:.1f} ms"]
        line[0] += " (ok)" if figures["p95"] < TARGET_P95_MS else f" (target < {TARGET_P95_MS})"
        for name, target, goal in (
            ("baseline", "baseline", TARGET_SPEEDUP),
            ("floor", "floor", TARGET_FLOOR_SHARE),
        ):
            if target in others:
                ratio = figures["rate"] / others[target].results[(round_, 8)]["rate"]
                verdict = "ok" if ratio >= goal else f"target {goal}"
                line.append(f"service/{name} {ratio:.2f}x ({verdict})")
        print("  " + ", ".join(line))
    for count in clients:
        medians = {
            target.name: statistics.median(
                target.results[(r, count)]["rate"] for r in range(args.rounds)
            )
            for target in targets
        }
        print(
            f"  median rate, {count} client(s): "
            + ", ".join(f"{name} {rate:,.0f}/s" for name, rate in medians.items())
        )
    if 8 in clients and args.rounds > 1:
        _median_verdicts(service, others, args.rounds)


def _median_verdicts(service: Target, others: dict[str, Target], rounds: int) -> None:
    """The targets judged on the median of the rounds' figures (8 clients): on a shared
    machine one round can fall on another user's burst; every round is printed above."""
    p95 = statistics.median(service.results[(r, 8)]["p95"] for r in range(rounds))
    line = [f"median of {rounds} rounds, 8 clients: service p95 {p95:.1f} ms"]
    line[0] += " (ok)" if p95 < TARGET_P95_MS else f" (target < {TARGET_P95_MS})"
    for name, goal in (("baseline", TARGET_SPEEDUP), ("floor", TARGET_FLOOR_SHARE)):
        if name in others:
            ratio = statistics.median(
                service.results[(r, 8)]["rate"] / others[name].results[(r, 8)]["rate"]
                for r in range(rounds)
            )
            line.append(f"service/{name} {ratio:.2f}x ({'ok' if ratio >= goal else goal})")
    print("  " + ", ".join(line))


def main() -> None:
    args = parse_args()
    clients = [int(value) for value in args.clients.split(",")]
    tmp = tempfile.mkdtemp(prefix="bench-single-")
    targets: list[Target] = []
    redis_server = None
    if not args.broker:
        port = free_port()
        redis_server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        args.broker = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while not _redis_answers(args.broker) and time.monotonic() < deadline:
            time.sleep(0.1)
    try:
        for index, value in enumerate(args.url):
            name, _, url = value.rpartition("=") if "=" in value else ("", "", value)
            name = name or ("service" if index == 0 else f"url{index + 1}")
            targets.append(Target(name=name, url=url.rstrip("/"), api_key=args.api_key))
        if not args.url:
            targets.append(serve("service", ROOT, args, tmp))
        for variant in args.variant:
            name, _, settings = variant.partition(":")
            targets.append(serve(name, ROOT, args, tmp, env_extra=settings))
        if args.baseline:
            targets.append(serve("baseline", Path(args.baseline).resolve(), args, tmp))
        if not args.no_floor:
            targets.append(serve("floor", ROOT, args, tmp, app="bench.single_floor:application"))
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(
            f"POST /events: {args.requests} events per phase, {args.rounds} round(s), "
            f"{len(targets)} targets; {os.cpu_count()} CPUs, load average {load}"
        )
        print(
            f"{'target':<9}{'clients':>8}{'events/s':>10}{'p50 ms':>9}{'p95 ms':>9}"
            f"{'p99 ms':>9}{'web CPU-ms/ev':>15}{'db CPU-ms/ev':>14}{'msgs/ev':>9}"
        )
        for round_ in range(args.rounds):
            for count in clients:
                for target in targets:
                    figures = phase(args, target, count)
                    target.results[(round_, count)] = figures
                    print(
                        f"{target.name:<9}{count:>8}{figures['rate']:>10,.0f}"
                        f"{figures['p50']:>9.1f}{figures['p95']:>9.1f}{figures['p99']:>9.1f}"
                        f"{figures['web_cpu']:>15.2f}{figures['db_cpu']:>14.2f}"
                        f"{figures['messages']:>9.2f}",
                        flush=True,
                    )
        report(targets, args, clients)
    finally:
        for target in targets:
            if target.process is not None:
                target.process.terminate()
                target.process.wait(timeout=30)
        if redis_server is not None:
            redis_server.terminate()
            redis_server.wait(timeout=30)
        else:
            redis.Redis.from_url(args.broker).delete(FLOOR_QUEUE, "celery")
        if not args.keep:
            server = server_connection(args.mysql)
            for target in targets:
                if target.database:
                    server.cursor().execute(f"DROP DATABASE IF EXISTS `{target.database}`")
            server.close()
        subprocess.run(["rm", "-rf", tmp], check=False)


if __name__ == "__main__":
    main()
