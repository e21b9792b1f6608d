"""Slow clients against the production server: `--slow` connections (default 50) each send a
POST's headers with `Content-Length: 100000` and then one byte, and hold; meanwhile /health and
POST /events are probed, one after the other, for `--seconds`.

    .venv/bin/python bench/slow_clients.py
    .venv/bin/python bench/slow_clients.py --variants sync,serve --slow 50 --seconds 10

Why `serve` runs gthread workers: two sync workers are frozen by two such clients (a worker per
request, reading its body for as long as the client likes). Threads cost a slow client one thread
of a worker, and a body deadline (REQUEST_BODY_TIMEOUT_SECONDS, core.request_body) frees it with a
408. gunicorn's ASGI worker answers as well beside slow clients (it reads bodies in its event loop),
but Django then runs each request in a thread of its own, so database connections are not kept
between requests (a new MariaDB connection per request) and their number has no bound; its events/s
were no better here. A buffering proxy (nginx) in front would guard compose only, not `serve`.

Each variant is a gunicorn setup on the same SQLite database, one after the other; `sync` (two
sync workers, the setup before issue 13) is the baseline. Prints, per variant, probes answered,
the median and slowest answer, and how many took over a second or got no answer at all.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testkit.procs import GUNICORN, free_port, start_process, wait_until  # noqa: E402

API_KEY = "bench-slow-clients-key"
# What is compared: `serve` is what `manage.py serve` runs now (gthread, WEB_THREADS threads per
# worker, the body deadline); `sync` the setup before issue 13 (the baseline); `gthread8` too few
# threads for the slow clients; `asgi` gunicorn's asyncio worker with Django's ASGI handler.
# Two workers each.
VARIANTS = {
    "sync": [GUNICORN, "klaviyo_backend.wsgi", "--workers", "2"],
    "gthread8": [GUNICORN, "klaviyo_backend.wsgi", "--workers", "2", "--threads", "8"],
    "asgi": [GUNICORN, "klaviyo_backend.asgi", "--workers", "2", "--worker-class", "asgi"],
    "serve": [sys.executable, "manage.py", "serve", "--no-migrate", "--workers", "2"],
}
EVENT = b'{"eventName": "Slow Client Probe", "email": "probe@example.com"}'


def server_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECRET_KEY": "bench-secret-key",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "API_KEYS": API_KEY,
        "KLAVIYO_API_KEY": "",
        "CELERY_BROKER_URL": "",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "klaviyo_backend.settings",
    }


def slow_socket(port: int) -> socket.socket:
    """A POST /events that announces 100,000 bytes of body and sends one."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"X-API-Key: {API_KEY}\r\nContent-Length: 100000\r\n\r\n{{".encode()
    )
    return sock


def probe(url: str, kind: str) -> float | None:
    """Seconds to a complete answer, or None when none came within 10 s."""
    started = time.perf_counter()
    try:
        if kind == "health":
            response = requests.get(f"{url}/health", timeout=10)
        else:
            response = requests.post(
                f"{url}/events",
                data=EVENT,
                headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
                timeout=10,
            )
    except requests.RequestException:
        return None
    if response.status_code not in (200, 201):
        return None
    return time.perf_counter() - started


def throughput(url: str, seconds: float, clients: int = 8) -> float:
    """POST /events answered per second by `clients` threads posting one after the other."""
    done = [0] * clients
    deadline = time.monotonic() + seconds

    def post_until_deadline(index: int) -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                response = session.post(
                    f"{url}/events",
                    data=EVENT,
                    headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
                    timeout=10,
                )
                done[index] += response.status_code == 201

    threads = [threading.Thread(target=post_until_deadline, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / seconds


def run_variant(name: str, args: list[str], env: dict[str, str], slow: int, seconds: float) -> str:
    port = free_port()
    args = (
        [*args, "--bind", f"127.0.0.1:{port}"]
        if name != "serve"
        else [*args, "--port", str(port), "--bind", "127.0.0.1"]
    )
    server = start_process(f"gunicorn-{name}", args, env=env)
    url = f"http://127.0.0.1:{port}"
    sockets: list[socket.socket] = []
    try:
        wait_until(lambda: probe(url, "health") is not None, timeout=30, what=f"{name} /health")
        rate = throughput(url, seconds / 2)
        sockets = [slow_socket(port) for _ in range(slow)]
        time.sleep(0.5)  # let every slow request reach a worker
        timings: dict[str, list[float | None]] = {"health": [], "events": []}
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for kind in timings:
                timings[kind].append(probe(url, kind))
        parts = []
        for kind, values in timings.items():
            answered = [value for value in values if value is not None]
            median = statistics.median(answered) * 1000 if answered else float("nan")
            slowest = max(answered) * 1000 if answered else float("nan")
            over = sum(1 for value in answered if value > 1)
            parts.append(
                f"{kind}: {len(answered)}/{len(values)} answered, median {median:.0f} ms, "
                f"max {slowest:.0f} ms, {over} over 1 s"
            )
        return f"{name:10} {rate:5.0f} events/s without slow clients | " + " | ".join(parts)
    finally:
        for sock in sockets:
            sock.close()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--slow", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-slow-") as folder:
        database_url = f"sqlite:///{folder}/bench.sqlite3"
        env = server_env(database_url)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        print(f"{options.slow} slow clients, probes for {options.seconds:.0f} s per variant")
        for name in options.variants.split(","):
            print(run_variant(name, VARIANTS[name], env, options.slow, options.seconds), flush=True)


if __name__ == "__main__":
    main()
