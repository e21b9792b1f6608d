"""The embedded broker: Celery's queue in a folder beside the SQLite database, for a one-machine
run with no Redis (`manage.py serve` starts the worker and beat that consume it).

kombu's filesystem transport, with two changes:
- a message is written under a temporary name and renamed into the queue when complete, so a
  worker polling at that moment never reads a half-written file (kombu's own `_put` creates the
  file, then writes it: its lock is advisory and the reader doesn't take it);
- a taken message is moved into the broker's own `processing/` folder before it is read (kombu
  uses the system's temporary folder): everything of one instance stays in one folder, so
  several instances (several DATABASE_URLs) run side by side from one checkout.

Why this transport (bench/embedded_broker.py measures it against Redis): it needs no server and
no further package, survives a restart (a queued message is a file), and a rename is atomic, so
the web processes and the worker share it safely. Retries with a countdown are held by the
worker until due, as with Redis. What it lacks is Redis's visibility timeout: a task the worker
held when it was killed with SIGKILL is lost with it (a warm stop puts it back); the sweeper
sends such events again after SYNC_STALE_PENDING_SECONDS.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

QUEUE_FOLDER = "queue"
PROCESSING_FOLDER = "processing"
CONTROL_FOLDER = "control"
# The URL scheme naming this transport: "embedded://localhost/". A scheme, not the transport
# option (broker_transport), because an explicit transport would also override a Redis URL
# given later to the same app (the test kit points producers at Redis that way).
SCHEME = "embedded"
URL = f"{SCHEME}://localhost/"


def embedded_broker_dir(database: dict[str, Any], *, base_dir: Path) -> Path:
    """The broker's folder for a Django database: beside a SQLite file (db.sqlite3 ->
    db.sqlite3-broker), else in the project folder, named after the database."""
    name = str(database.get("NAME") or "")
    if database.get("ENGINE", "").endswith("sqlite3") and name and name != ":memory:":
        path = Path(name)
        return path.with_name(f"{path.name}-broker")
    return base_dir / f"{Path(name).name or 'default'}-broker"


def dir_parser(*, database: dict[str, Any], base_dir: Path) -> Callable[[str], Path]:
    """The EMBEDDED_BROKER_DIR setting's parser: empty, beside the database; else an
    absolute path."""

    def parse(value: str) -> Path:
        if not value:
            return embedded_broker_dir(database, base_dir=base_dir).resolve()
        if not Path(value).is_absolute():
            raise ValueError("must be an absolute path")
        return Path(value)

    return parse


def transport_options(folder: Path, *, polling_interval: float) -> dict[str, Any]:
    """kombu's transport options for a broker kept in `folder`."""
    queue = str(folder / QUEUE_FOLDER)
    return {
        "data_folder_in": queue,
        "data_folder_out": queue,
        "processed_folder": str(folder / PROCESSING_FOLDER),
        "control_folder": str(folder / CONTROL_FOLDER),
        "polling_interval": polling_interval,
    }


def folders_prepare(folder: Path) -> None:
    """Creates the broker's folders (kombu expects them to exist)."""
    for name in (QUEUE_FOLDER, PROCESSING_FOLDER, CONTROL_FOLDER):
        (folder / name).mkdir(parents=True, exist_ok=True)


def folder_status(folder: Path) -> str:
    """'ok' when the queue folder exists and this process may write into it, else 'down'."""
    queue = folder / QUEUE_FOLDER
    return "ok" if queue.is_dir() and os.access(queue, os.W_OK | os.X_OK) else "down"


def queued_count(folder: Path) -> int:
    """Messages waiting in the queue folder (not yet taken by a worker)."""
    try:
        return sum(1 for name in os.listdir(folder / QUEUE_FOLDER) if name.endswith(".msg"))
    except OSError:
        return 0


class Channel(filesystem.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        folders_prepare(Path(self.data_folder_in).parent)

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        # Read in name order: the time first (ns) keeps the order of sending.
        name = f"{time.time_ns():020d}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)  # atomic: a reader sees all of it or nothing
        except OSError as error:
            raise ChannelError(f"Cannot add a message to {self.data_folder_out!r}") from error

    def _get(self, queue: str) -> Any:
        suffix = f".{queue}.msg"
        try:
            names = sorted(n for n in os.listdir(self.data_folder_in) if n.endswith(suffix))
        except OSError as error:
            raise ChannelError(f"Cannot list {self.data_folder_in!r}") from error
        for name in names:
            taken = os.path.join(self.processed_folder, name)
            try:
                # Atomic within one file system: of two consumers, one gets it.
                os.rename(os.path.join(self.data_folder_in, name), taken)
            except OSError:
                continue  # taken by another consumer meanwhile
            try:
                with open(taken, "rb") as file:
                    payload = file.read()
                os.remove(taken)
            except OSError as error:
                raise ChannelError(f"Cannot read the message {taken!r}") from error
            return loads(bytes_to_str(payload))
        raise Empty()


class Transport(filesystem.Transport):
    Channel = Channel


# Every process that loads the settings (web, worker, beat, commands) knows the scheme.
TRANSPORT_ALIASES.setdefault(SCHEME, f"{__name__}:Transport")
