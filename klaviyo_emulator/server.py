"""Running the emulator: in a thread of the current process (tests) or in the foreground
(`python -m klaviyo_emulator`); `EmulatorControl` drives one from another process."""

import logging
import threading
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from klaviyo_emulator.app import EmulatorApp, EmulatorConfig
from klaviyo_emulator.faults import Faults

logger = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    """One log line per request would swamp a benchmark; keep them at debug level."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("%s %s %s", self.command, self.path, code)

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error":
            logger.warning(message, *args)


class Emulator:
    """`url = Emulator(port=0).start()` serves on a free loopback port in a daemon thread and
    returns the API base URL (the value for KLAVIYO_BASE_URL); `stop()` ends it."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        config: EmulatorConfig | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.app = EmulatorApp(config, faults=faults)
        self.server: BaseWSGIServer = make_server(
            host, port, self.app, threaded=True, request_handler=_QuietHandler
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.server.host}:{self.server.server_port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def store(self):
        return self.app.store

    @property
    def faults(self) -> Faults:
        return self.app.faults

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="klaviyo-emulator",
            daemon=True,
        )
        self._thread.start()
        return self.api_url

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "Emulator":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class EmulatorControl:
    """The control API of an emulator running elsewhere (another process)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.root = url.rstrip("/").removesuffix("/api")
        self.timeout = timeout
        self.session = requests.Session()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(
            method, f"{self.root}/_emulator/{path}", timeout=self.timeout, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def state(self) -> dict[str, Any]:
        return self._call("GET", "state")

    def events(self, *, unique_id: str | None = None) -> list[dict[str, Any]]:
        params = {"unique_id": unique_id} if unique_id else None
        return self._call("GET", "events", params=params)["events"]

    def deletion_jobs(self) -> list[dict[str, Any]]:
        return self._call("GET", "deletion-jobs")["deletion_jobs"]

    def fault(self, **spec: Any) -> dict[str, Any]:
        return self._call("POST", "faults", json=spec)

    def clear_faults(self) -> dict[str, Any]:
        return self._call("DELETE", "faults")

    def configure(self, **switches: Any) -> dict[str, Any]:
        return self._call("POST", "config", json=switches)

    def reset(self) -> dict[str, Any]:
        return self._call("POST", "reset")

    def profiles(self, *, email: str | None = None, phone_number: str | None = None) -> list:
        params = {k: v for k, v in (("email", email), ("phone_number", phone_number)) if v}
        return self._call("GET", "profiles", params=params)["profiles"]

    def history(self, *, email: str | None = None, profile_id: str | None = None) -> list:
        params = {k: v for k, v in (("email", email), ("profile_id", profile_id)) if v}
        return self._call("GET", "history", params=params)["history"]

    def lists(self) -> list[dict[str, Any]]:
        return self._call("GET", "lists")["lists"]

    def create_list(self, name: str, **fields: Any) -> dict[str, Any]:
        return self._call("POST", "lists", json={"name": name, **fields})

    def confirm(self, list_id: str, email: str) -> dict[str, Any]:
        """The person confirms a pending double opt-in subscription to the list."""
        return self._call("POST", f"lists/{list_id}/confirm", json={"email": email})
