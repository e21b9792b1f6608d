"""The embedded broker against the alternatives, on the transport alone (kombu, no Celery):

    .venv/bin/python bench/embedded_broker.py
    .venv/bin/python bench/embedded_broker.py --messages 2000 --latency-messages 100

For each transport, a consumer in its own process (as the worker is) and this process as the
producer (as a web process is):
- latency: messages sent one at a time, 50 ms apart; p50/p95/max from send to receipt;
- throughput: a burst of `--messages` messages; messages/s from the first send to the last
  receipt;
- idle CPU: the consumer's CPU milliseconds per second while nothing is sent (its polling).

Transports: `embedded` (core/embedded_broker.py: files in a folder, polled every 0.2 s as
configured by default), `sqlite` (kombu's SQLAlchemy transport on a SQLite file; measured only
when SQLAlchemy is installed, which the project does not require) and `redis` (the production
broker, the baseline; Redis db 13, flushed before and after). Each uses its own temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import kombu
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.embedded_broker import URL, transport_options  # noqa: E402

QUEUE = "bench"
CONSUMER = """
import json, sys, time
import kombu
sys.path.insert(0, {root!r})
import core.embedded_broker  # registers the embedded:// scheme
url, transport, options, out, poll = sys.argv[1:6]
transport, options, poll = transport or None, json.loads(options), float(poll)
queue = kombu.Queue("bench", routing_key="bench")
received = open(out, "a", buffering=1)
def on_message(body, message):
    received.write(json.dumps([body["n"], body["sent"], time.time()]) + "\\n")
    message.ack()
with kombu.Connection(url, transport=transport, transport_options=options) as connection:
    if hasattr(connection.transport, "polling_interval"):  # the polling transports
        connection.transport.polling_interval = poll
    with connection.Consumer([queue], callbacks=[on_message], accept=["json"]):
        print("ready", flush=True)
        while True:
            try:
                connection.drain_events(timeout=1)
            except TimeoutError:
                pass
"""


def transports(folder: Path, redis_url: str, poll: float) -> dict[str, tuple[str, str, dict]]:
    found = {
        "embedded": (
            URL,
            "",
            transport_options(folder / "embedded", polling_interval=poll),
        ),
        "redis": (redis_url, "", {}),
    }
    try:
        import sqlalchemy  # noqa: F401

        found["sqlite"] = (
            f"sqla+sqlite:///{folder / 'broker.sqlite3'}",
            "",
            {},
        )
    except ImportError:
        print(
            "sqlite: not measured (pip install sqlalchemy to include kombu's SQLAlchemy transport)"
        )
    return found


def received(path: Path) -> list[list[float]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for(path: Path, count: int, timeout: float) -> list[list[float]]:
    deadline = time.monotonic() + timeout
    while len(rows := received(path)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(rows)} of {count} messages received")
        time.sleep(0.01)
    return rows


def measure(
    name: str, url: str, transport: str, options: dict, args: argparse.Namespace, tmp: Path
) -> dict:
    out = tmp / f"{name}.received"
    consumer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CONSUMER.format(root=str(ROOT)),
            url,
            transport,
            json.dumps(options),
            str(out),
            str(args.poll),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert consumer.stdout.readline().strip() == "ready"
        queue = kombu.Queue(QUEUE, routing_key=QUEUE)
        with kombu.Connection(
            url, transport=transport or None, transport_options=options
        ) as connection:
            producer = connection.Producer(serializer="json")
            publish = lambda n: producer.publish(  # noqa: E731
                {"n": n, "sent": time.time()}, routing_key=QUEUE, declare=[queue]
            )
            publish(-1)  # declares the queue, warms the connection
            wait_for(out, 1, 30)
            # Idle: the consumer only polls.
            process = psutil.Process(consumer.pid)
            cpu = process.cpu_times()
            time.sleep(args.idle_seconds)
            after = process.cpu_times()
            idle_ms = (after.user + after.system - cpu.user - cpu.system) * 1000 / args.idle_seconds
            # Latency: one at a time.
            for n in range(args.latency_messages):
                publish(n)
                time.sleep(0.05)
            rows = wait_for(out, 1 + args.latency_messages, 60)
            latencies = sorted((got - sent) * 1000 for _, sent, got in rows[1:])
            # Throughput: a burst.
            start = time.time()
            for n in range(args.messages):
                publish(100_000 + n)
            rows = wait_for(out, 1 + args.latency_messages + args.messages, 300)
            elapsed = max(got for _, _, got in rows) - start
    finally:
        consumer.kill()
        consumer.wait()
    return {
        "p50": statistics.median(latencies),
        "p95": latencies[int(0.95 * (len(latencies) - 1))],
        "max": latencies[-1],
        "per_second": args.messages / elapsed,
        "idle_cpu_ms_per_s": idle_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1000, help="burst size (1000)")
    parser.add_argument("--latency-messages", type=int, default=60, help="one-at-a-time sends (60)")
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument(
        "--poll", type=float, default=0.2, help="polling interval, s (0.2, the default)"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()
    import redis

    print(f"CPUs: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-broker-") as folder:
        results = {}
        for name, (url, transport, options) in transports(
            Path(folder), args.redis, args.poll
        ).items():
            if name == "redis":
                redis.Redis.from_url(url).flushdb()
            try:
                results[name] = measure(name, url, transport, options, args, Path(folder))
            finally:
                if name == "redis":
                    redis.Redis.from_url(url).flushdb()
    base = results["redis"]
    columns = ("p50 ms", "p95 ms", "max ms", "msg/s", "x redis")
    print(f"{'transport':<10}" + "".join(f"{c:>9}" for c in columns) + f"{'idle CPU ms/s':>15}")
    for name, r in results.items():
        print(
            f"{name:<10}{r['p50']:9.1f}{r['p95']:9.1f}{r['max']:9.1f}{r['per_second']:9.0f}"
            f"{r['per_second'] / base['per_second']:9.2f}{r['idle_cpu_ms_per_s']:15.1f}"
        )


if __name__ == "__main__":
    main()
