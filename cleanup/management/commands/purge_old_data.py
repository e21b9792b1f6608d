import argparse
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    DjangoHelpFormatter,
)

from cleanup.models import PurgeTrigger
from cleanup.selectors import events_expired_count, purge_cutoff
from cleanup.services import (
    MAX_BATCH_SIZE,
    MAX_DAYS,
    PurgeAlreadyRunning,
    PurgeFailed,
    PurgeProgress,
    purge_expired_data,
)

# Exit statuses besides 0 (done) and 1 (failed; also what CommandError exits with).
EXIT_USAGE = 2  # argparse's, for arguments it refuses
EXIT_ALREADY_RUNNING = 3
EXIT_STATUSES = f"""exit status:
  0  done: the purge (or the dry run) finished; its summary is printed
  1  failed: the purge stopped at an error (printed, recorded); what it deleted stays deleted
  {EXIT_USAGE}  bad arguments (a --days or --batch-size out of range, an unknown option)
  {EXIT_ALREADY_RUNNING}  another purge is running: nothing was done; try again later
"""


class HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's (its own options last) and the exit statuses kept as laid out."""


def whole_number(*, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = 0
        if not 1 <= number <= high or str(number) != value.strip():
            raise argparse.ArgumentTypeError(
                f"must be a whole number from 1 to {high}, got {value!r}"
            )
        return number

    return parse


class Command(BaseCommand):
    help = (
        "Deletes events older than the retention period (DATA_RETENTION_DAYS, or --days), then\n"
        "the profiles left without events, in batches; each run is recorded (admin: Purge runs)."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = HelpFormatter
        parser.epilog = EXIT_STATUSES
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=whole_number(high=MAX_DAYS),
            help="Delete what is older than this many days.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )
        parser.add_argument(
            "--batch-size",
            type=whole_number(high=MAX_BATCH_SIZE),
            help="Rows per DELETE statement (default: PURGE_BATCH_SIZE).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        show_progress = self.stdout.isatty() and not options["dry_run"]
        on_progress = self._progress_printer(options["days"]) if show_progress else None
        try:
            with _summary_not_logged():
                run = purge_expired_data(
                    trigger=PurgeTrigger.COMMAND,
                    days=options["days"],
                    dry_run=options["dry_run"],
                    batch_size=options["batch_size"],
                    on_progress=on_progress,
                )
        except PurgeAlreadyRunning as error:
            raise CommandError(error.run.error, returncode=EXIT_ALREADY_RUNNING) from error
        except PurgeFailed as error:
            if show_progress:
                self.stdout.write("")
            raise CommandError(f"Purge run #{error.run.pk}: {error.run.summary}") from error
        if show_progress:
            self.stdout.write("")
        self.stdout.write(f"Purge run #{run.pk}: {run.summary}")
        if run.duration_seconds is not None:
            self.stdout.write(f"Took {run.duration_seconds:.1f} s.")

    def _progress_printer(self, days: int | None) -> Callable[[PurgeProgress], None]:
        # On a terminal only: one line rewritten in place, with the share of events done.
        total = events_expired_count(cutoff=purge_cutoff(days=days or settings.DATA_RETENTION_DAYS))
        started = time.monotonic()

        def show(progress: PurgeProgress) -> None:
            share = f"/{total} ({progress.events_deleted / total:.0%})" if total else ""
            rate = progress.events_deleted / max(time.monotonic() - started, 1e-9)
            self.stdout.write(
                f"\r{progress.phase}: {progress.events_deleted}{share} events "
                f"({rate:,.0f}/s), {progress.profiles_deleted} profiles deleted",
                ending="",
            )
            self.stdout.flush()

        return show


@contextlib.contextmanager
def _summary_not_logged() -> Iterator[None]:
    """The command prints the run's summary itself: the service's INFO line saying the same
    would print it twice (logs go to stdout). Warnings and errors are still logged."""
    services = logging.getLogger("cleanup.services")
    previous = services.level
    services.setLevel(max(previous, logging.WARNING))
    try:
        yield
    finally:
        services.setLevel(previous)
