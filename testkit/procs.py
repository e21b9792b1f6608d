"""Real processes for end-to-end tests, drills and benchmarks: a Celery worker, the Klaviyo
emulator as its own process, and the environment that points them at the test database.

Each process runs in its own session (process group), logs to a temporary file and is stopped
by the caller (`stop()`, or `kill()` for a SIGKILL of the whole group, pool children included).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import kombu.pools
import redis
from django.conf import settings
from django.db import connection

from core import embedded_broker
from core.background_batches import flush_all
from klaviyo_backend.celery import app as celery_app

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The Redis tried when CELERY_BROKER_URL is unset (a plain SQLite run): the CI database number.
# TEST_FALLBACK_BROKER_URL moves it (a closed port: check the run on the embedded broker).
FALLBACK_BROKER_URL = os.environ.get("TEST_FALLBACK_BROKER_URL") or "redis://127.0.0.1:6379/15"
# gunicorn of this Python's environment (the venv's), as `manage.py serve` finds it.
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
# Set by CI (.ci/run): Redis, redis-server and Chromium must be there; a test that needs one
# fails without it instead of skipping (or running on the embedded broker).
REQUIRE_TEST_SERVICES = os.environ.get("REQUIRE_TEST_SERVICES", "") not in ("", "0")


class ProcessError(RuntimeError):
    """A process did not start, or died, with its log attached."""


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path
    _log_file: object = field(repr=False, default=None)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_for_log(self, pattern: str, *, timeout: float) -> re.Match[str]:
        """Waits until the log matches `pattern` (a regex)."""
        deadline = time.monotonic() + timeout
        compiled = re.compile(pattern)
        while time.monotonic() < deadline:
            if match := compiled.search(self.log()):
                return match
            if not self.alive():
                raise ProcessError(f"{self.name} exited ({self.popen.returncode}):\n{self.log()}")
            time.sleep(0.05)
        raise ProcessError(f"{self.name}: no {pattern!r} in {timeout} s:\n{self.log()[-5000:]}")

    def kill(self) -> None:
        """SIGKILL to the process group: the main process and its children die at once."""
        self._signal_group(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, *, timeout: float = 10.0) -> None:
        if self.alive():
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)


def start_process(name: str, args: list[str], *, env: Mapping[str, str]) -> Process:
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by Process.stop
        prefix=f"{name}-", suffix=".log", delete=False
    )
    popen = subprocess.Popen(
        args,
        cwd=PROJECT_DIR,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Process(name=name, popen=popen, log_path=Path(log_file.name), _log_file=log_file)


# --- the broker -----------------------------------------------------------------------------


def redis_url() -> str:
    """The Redis a test that needs one uses: CELERY_BROKER_URL's (CI's), else the fallback."""
    return os.environ.get("CELERY_BROKER_URL") or FALLBACK_BROKER_URL


def broker_url() -> str:
    """CELERY_BROKER_URL; unset, the fallback Redis if it answers (always when services are
    required), else the embedded broker (core/embedded_broker.py) of this process's database."""
    if configured := os.environ.get("CELERY_BROKER_URL"):
        return configured
    if REQUIRE_TEST_SERVICES or broker_reachable(FALLBACK_BROKER_URL):
        return FALLBACK_BROKER_URL
    return embedded_broker.URL


def is_embedded(url: str) -> bool:
    return url.startswith(f"{embedded_broker.SCHEME}://")


def embedded_broker_folder() -> Path:
    """The embedded broker's folder of the database this process uses now (in a test: beside
    the test database), which a worker started by worker_env shares."""
    folder = embedded_broker.embedded_broker_dir(connection.settings_dict, base_dir=PROJECT_DIR)
    return folder.resolve()


def broker_reachable(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@contextlib.contextmanager
def producer_on(url: str) -> Iterator[None]:
    """This process queues tasks on the broker at `url` (not eagerly) until the block ends.
    The producer pool is built for one URL: it is dropped on the way in and out, so that a
    test may point the producer elsewhere (a private Redis, a closed port) and back."""
    conf = celery_app.conf
    # The write URL: conf.broker_url yields to the CELERY_BROKER_URL environment variable.
    previous = (conf.get("broker_write_url"), conf.task_always_eager, conf.broker_transport_options)
    flush_all()  # what this process's publisher holds goes where it was meant to go
    _producer_pool_reset()
    conf.broker_write_url = url
    conf.task_always_eager = False
    if is_embedded(url):  # the folder of the test database, not the one the settings named
        conf.broker_transport_options = {
            **conf.broker_transport_options,
            **embedded_broker.transport_options(
                embedded_broker_folder(), polling_interval=settings.EMBEDDED_BROKER_POLL_SECONDS
            ),
        }
    try:
        yield
    finally:
        flush_all()
        _producer_pool_reset()
        conf.broker_write_url, conf.task_always_eager, conf.broker_transport_options = previous


def _producer_pool_reset() -> None:
    # What Celery and kombu do after a fork (Celery._after_fork, kombu.pools.reset): pools
    # closed and forgotten, so the next send builds new ones for the URL configured then.
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def broker_flush(url: str) -> None:
    """Empties the broker's database: no task or rate-limit count left from an earlier run.
    Do it before a worker starts, so the worker declares its queue again. The embedded
    broker: its folder for this process's database, emptied."""
    if is_embedded(url):
        folder = embedded_broker_folder()
        shutil.rmtree(folder, ignore_errors=True)
        embedded_broker.folders_prepare(folder)
        return
    # Here, not at the top: broker_loss imports the models, and benchmarks import this module
    # for its process helpers before Django is set up (bench/slow_clients.py).
    from klaviyo_sync.broker_loss import MARKER_KEY

    client = redis.Redis.from_url(url)
    # A flush between tests is no queue lost under pending events (klaviyo_sync/broker_loss.py):
    # the marker is back in the same transaction, so a sweep in another test process (xdist)
    # never sees the database without it.
    with client.pipeline(transaction=True) as flush:
        flush.flushdb().set(MARKER_KEY, "1").execute()


# --- the database ---------------------------------------------------------------------------


def database_url() -> str:
    """DATABASE_URL of the database this process uses now (in a test: the test database)."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(settings['NAME']).resolve()}"
    if connection.vendor == "mysql":
        user = settings.get("USER") or "root"
        password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
        host = settings.get("HOST") or "127.0.0.1"
        port = settings.get("PORT") or 3306
        return f"mysql://{user}{password}@{host}:{port}/{settings['NAME']}"
    raise ProcessError(f"no DATABASE_URL for a {connection.vendor} database")


def worker_env(*, broker: str, database: str, **overrides: str) -> dict[str, str]:
    """The environment of a worker on `broker` and `database`; overrides are settings names."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("KLAVIYO_", "CELERY_", "PYTEST", "DATABASE_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="klaviyo_backend.settings",
        DATABASE_URL=database,
        CELERY_BROKER_URL=broker,
        PYTHONUNBUFFERED="1",
        LOG_FORMAT="plain",
    )
    if is_embedded(broker):  # unset: the embedded broker, in the folder this process uses
        env.update(CELERY_BROKER_URL="", EMBEDDED_BROKER_DIR=str(embedded_broker_folder()))
    env.update(overrides)
    return env


# --- the processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A local port that takes connections and never answers on them, like a server that
    hangs or a connection a middlebox stopped forwarding: a listener that never accepts,
    with room in its backlog, so the kernel completes each handshake and reads go unanswered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@contextlib.contextmanager
def unanswered_port() -> Iterator[int]:
    """A local port where a connection is never answered, like a host that is down or a
    firewall dropping packets (not refused: that would be quick): a listener that never
    accepts, its backlog filled, so that the kernel drops the next connections' SYNs."""
    sockets = [socket.socket()]
    listener = sockets[0]
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    try:
        for _ in range(10):
            probe = socket.socket()
            probe.settimeout(0.2)
            sockets.append(probe)
            try:
                probe.connect(("127.0.0.1", port))  # taken into the backlog
            except TimeoutError:
                break  # the backlog is full: connections now hang
        else:
            raise ProcessError("could not fill the backlog of a listening socket")
        yield port
    finally:
        for sock in sockets:
            sock.close()


def start_redis(port: int, *, timeout: float = 10) -> Process:
    """A private, memory-only `redis-server` on `port` (to stop and start again in a drill)."""
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    server = start_process("redis-server", [*args, "--appendonly", "no"], env=os.environ)
    try:
        server.wait_for_log(r"Ready to accept connections", timeout=timeout)
    except ProcessError:
        server.stop()
        raise
    return server


def start_api_server(
    *, env: Mapping[str, str], workers: int = 1, timeout: float = 30
) -> tuple[Process, str]:
    """The API on gunicorn (`workers` sync workers, as in production; one in tests); returns it
    and its base URL once /health answers."""
    port = free_port()
    args = [GUNICORN, "klaviyo_backend.wsgi", "--bind", f"127.0.0.1:{port}"]
    args += ["--workers", str(workers)]
    server = start_process("gunicorn", args, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{url}/health"), timeout=timeout, what="gunicorn /health")
    except TimeoutError:
        server.stop()
        raise ProcessError(f"gunicorn did not answer:\n{server.log()[-5000:]}") from None
    return server, url


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # an answer all the same (503: a dependency is down)
    except OSError:
        return False


def start_worker(*, env: Mapping[str, str], concurrency: int = 1, timeout: float = 60) -> Process:
    """A real `celery -A klaviyo_backend worker` (prefork), returned once it is ready."""
    options = (
        "-m celery -A klaviyo_backend worker --pool prefork --loglevel INFO "
        "--without-gossip --without-mingle --without-heartbeat"
    )
    args = [sys.executable, *options.split(), "--concurrency", str(concurrency)]
    args += ["--hostname", f"e2e-{uuid.uuid4().hex[:8]}@%h"]
    worker = start_process("celery-worker", args, env=env)
    try:
        worker.wait_for_log(r"\bready\.", timeout=timeout)
    except ProcessError:
        worker.stop()
        raise
    return worker


def start_beat(*, env: Mapping[str, str], timeout: float = 60) -> Process:
    """A real `celery -A klaviyo_backend beat` on the database scheduler (the schedule that
    `migrate` writes, or klaviyo_backend.beat.beat_schedule_sync), once it has started."""
    args = [sys.executable, "-m", "celery", "-A", "klaviyo_backend", "beat", "--loglevel", "INFO"]
    # Its state file (unused by the database scheduler, written all the same) in a temporary
    # folder, not in the checkout.
    args += ["--schedule", str(Path(tempfile.mkdtemp(prefix="beat-")) / "celerybeat-schedule")]
    beat = start_process("celery-beat", args, env=env)
    try:
        beat.wait_for_log(r"beat: Starting", timeout=timeout)
    except ProcessError:
        beat.stop()
        raise
    return beat


def start_emulator_process(
    *extra_args: str, env: Mapping[str, str] | None = None, timeout: float = 30
) -> tuple[Process, str]:
    """`python -m klaviyo_emulator --port 0` in its own process; returns it and its API URL."""
    emulator = start_process(
        "klaviyo-emulator",
        [sys.executable, "-m", "klaviyo_emulator", "--port", "0", *extra_args],
        env=env if env is not None else os.environ,
    )
    try:
        match = emulator.wait_for_log(r"listening on (http://\S+/api)", timeout=timeout)
    except ProcessError:
        emulator.stop()
        raise
    return emulator, match.group(1)


def wait_until(
    condition: Callable[[], bool], *, timeout: float, interval: float = 0.1, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s: {what or condition}")
        time.sleep(interval)
