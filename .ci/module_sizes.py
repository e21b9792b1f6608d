"""Lines per production module: the median must stay under 150 and none may pass 400.

Production modules: the .py files of the packages the service runs (tests, migrations and the
emulator aside). Prints the figures and the largest modules; exits 1 when a bound is broken.
"""

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "core",
    "klaviyo_client",
    "events",
    "klaviyo_sync",
    "cleanup",
    "console",
    "klaviyo_backend",
)
MEDIAN_BELOW = 150
MAX_LINES = 400


def production_modules() -> dict[str, int]:
    sizes = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "tests" in parts or "migrations" in parts:
                continue
            lines = len(path.read_text().splitlines())
            if lines:  # an empty __init__.py is no module to read
                sizes[str(path.relative_to(ROOT))] = lines
    return sizes


def main() -> int:
    sizes = production_modules()
    median = statistics.median(sizes.values())
    largest = sorted(sizes.items(), key=lambda item: -item[1])
    print(f"{len(sizes)} production modules, median {median:g} lines, largest {largest[0][1]}")
    for name, lines in largest[:8]:
        print(f"  {lines:4d}  {name}")
    too_big = [name for name, lines in largest if lines > MAX_LINES]
    if median >= MEDIAN_BELOW or too_big:
        print(f"Over the bounds (median < {MEDIAN_BELOW}, none over {MAX_LINES}): {too_big}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
