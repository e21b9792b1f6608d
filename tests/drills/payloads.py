"""Events the drills post, and the emulator's answers as they happened (with their times)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from klaviyo_emulator import Emulator

EVENT_TIME = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)


def bulk_events(prefix: str, count: int, *, profiles: int = 5) -> list[dict[str, Any]]:
    return [
        {
            "eventName": "Placed Order" if index % 2 else "Viewed Product",
            "email": f"{prefix}-{index % profiles}@example.com",
            "eventAttributes": {"sku": f"{prefix}-{index}"},
            "profileAttributes": {"firstName": f"P{index % profiles}"},
            "time": (EVENT_TIME + timedelta(seconds=index)).isoformat(),
            "value": index + 0.5,
            "uniqueId": f"{prefix}-{index}",
        }
        for index in range(count)
    ]


def single_event(unique_id: str) -> dict[str, Any]:
    return {"eventName": "Signed Up", "email": f"{unique_id}@example.com", "uniqueId": unique_id}


@dataclass(frozen=True)
class Answer:
    arrived: float  # time.monotonic() when the request came in
    answered: float  # ... and when its answer was ready
    path: str
    status: int
    retry_after: float | None


class AnswerLog:
    """Every answer of the emulator's Klaviyo API, in order, with its time: wraps the app's
    request handler in this process (the emulator runs in a thread here)."""

    def __init__(self, emulator: Emulator) -> None:
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        app = emulator.app
        handle = app.api_response

        def recorded(request: Any) -> Any:
            arrived = time.monotonic()
            response = handle(request)
            retry_after = response.headers.get("Retry-After")
            answer = Answer(
                arrived=arrived,
                answered=time.monotonic(),
                path=request.path.rstrip("/"),
                status=response.status_code,
                retry_after=float(retry_after) if retry_after else None,
            )
            with self._lock:
                self.answers.append(answer)
            return response

        app.api_response = recorded

    def with_status(self, status: int) -> list[Answer]:
        with self._lock:
            return [answer for answer in self.answers if answer.status == status]

    def to(self, path: str) -> list[Answer]:
        with self._lock:
            return [answer for answer in self.answers if answer.path == path]
