"""`manage.py resync`: sends events to Klaviyo again, through the normal queue.

    manage.py resync                                   # every skipped and failed event
    manage.py resync --status failed --metric Purchase --since 2026-11-01 --until 2026-11-02
    manage.py resync --status sent --since 2026-11-28T10:00Z --until 2026-11-28T12:00Z --dry-run

Exit codes: 0 done (or nothing to do), 1 some batches could not be queued (they stay pending
and the sweeper queues them), 2 bad arguments or no Klaviyo key.
"""

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_date, parse_datetime

from klaviyo_sync.resync import (
    DEFAULT_STATUSES,
    RESYNC_STATUSES,
    ResyncSelection,
    events_resync,
    resync_counts,
)

# Seconds between progress lines when the output is not a terminal (a log, CI).
LOG_PROGRESS_EVERY = 5.0


def moment(text: str) -> datetime:
    """An ISO date (midnight UTC) or date-time (UTC unless it says otherwise)."""
    parsed = parse_datetime(text)
    if parsed is None and (day := parse_date(text)) is not None:
        parsed = datetime(day.year, day.month, day.day)
    if parsed is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date or date-time")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Sends events to Klaviyo again through the queue: skipped and failed ones by default; "
        "filters by status, metric, email and time received. Safe to repeat (unique_id)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--status",
            action="append",
            choices=list(RESYNC_STATUSES),
            help="repeatable; default: skipped and failed (sent: after an incident at Klaviyo)",
        )
        parser.add_argument("--metric", help="only events of this name (exact)")
        parser.add_argument("--email", help="only this profile's events")
        parser.add_argument("--since", type=moment, help="received at or after (ISO, UTC)")
        parser.add_argument("--until", type=moment, help="received before (ISO, UTC)")
        parser.add_argument("--dry-run", action="store_true", help="count, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            selection = ResyncSelection(
                statuses=tuple(dict.fromkeys(options["status"] or DEFAULT_STATUSES)),
                metric=options["metric"],
                email=options["email"],
                received_since=options["since"],
                received_until=options["until"],
            )
        except ValueError as error:
            raise CommandError(str(error), returncode=2) from error
        since, until = selection.received_since, selection.received_until
        if since and until and since >= until:
            raise CommandError("--since must be before --until", returncode=2)
        counts = resync_counts(selection)
        total = sum(counts.values())
        summary = ", ".join(f"{status} {counts.get(status, 0)}" for status in selection.statuses)
        if options["dry_run"]:
            self.stdout.write(f"Would send again {total} events ({summary}); nothing changed.")
            return
        if not settings.KLAVIYO_API_KEY:
            raise CommandError(
                "KLAVIYO_API_KEY is not configured: the events would only be skipped again.",
                returncode=2,
            )
        if not total:
            self.stdout.write("No event matches: nothing to send.")
            return
        self.stdout.write(f"Sending again {total} events ({summary}) through the queue.")
        outcome = events_resync(selection=selection, on_progress=self._progress_printer())
        if self.stdout.isatty():
            self.stdout.write("")  # ends the progress line
        self.stdout.write(
            f"Queued {outcome.queued} events; the worker sends them (watch /health, admin)."
        )
        if outcome.not_queued:
            self.stderr.write(
                f"{outcome.not_queued} events could not be queued (broker down): they are "
                "pending, and the sweeper queues them once the broker is back."
            )
            sys.exit(1)

    def _progress_printer(self) -> Any:
        on_terminal = self.stdout.isatty()
        last = [0.0]

        def progress(done: int, total: int) -> None:
            line = f"{done}/{total} events queued ({100 * done // max(total, 1)}%)"
            if on_terminal:
                self.stdout.write(f"\r{line}", ending="")
                self.stdout.flush()
            elif done >= total or time.monotonic() - last[0] >= LOG_PROGRESS_EVERY:
                last[0] = time.monotonic()
                self.stdout.write(line)

        return progress
