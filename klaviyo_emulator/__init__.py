"""A Klaviyo API emulator for tests, benchmarks and demos (see app.py for what it checks and
control.py for its control API).

    from klaviyo_emulator import Emulator
    emulator = Emulator(port=0)
    api_url = emulator.start()   # e.g. http://127.0.0.1:40123/api -> KLAVIYO_BASE_URL
    ...
    emulator.stop()
"""

from klaviyo_emulator.app import DEFAULT_API_KEY, EmulatorApp, EmulatorConfig
from klaviyo_emulator.faults import Faults
from klaviyo_emulator.server import Emulator, EmulatorControl

__all__ = [
    "DEFAULT_API_KEY",
    "Emulator",
    "EmulatorApp",
    "EmulatorConfig",
    "EmulatorControl",
    "Faults",
]
