"""What an endpoint handler gets: the request, its parsed body, path arguments and the state."""

from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request

from klaviyo_emulator.faults import Faults
from klaviyo_emulator.store import Store


@dataclass
class HandlerContext:
    request: Request
    store: Store
    faults: Faults
    body: Any = None
    args: dict[str, str] = field(default_factory=dict)
