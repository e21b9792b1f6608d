"""manage.py purge_old_data."""

import io
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from cleanup.management.commands.purge_old_data import EXIT_ALREADY_RUNNING
from cleanup.models import PurgeOutcome, PurgeRun, PurgeTrigger
from cleanup.tests.conftest import days_ago, event_at, profile_at, running_run
from events.models import Event, Profile

pytestmark = pytest.mark.django_db


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def expired_and_fresh() -> None:
    gone = profile_at(days_ago(10))
    for _ in range(3):
        event_at(days_ago(10), gone)
    event_at(days_ago(1))


def purge_command(*args: str, stdout: io.StringIO | None = None) -> str:
    out = stdout or io.StringIO()
    call_command("purge_old_data", *args, stdout=out)
    return out.getvalue()


def test_it_purges_and_prints_a_summary(expired_and_fresh):
    output = purge_command("--batch-size", "2")

    run = PurgeRun.objects.get()
    assert (run.trigger, run.outcome, run.batch_size) == (
        PurgeTrigger.COMMAND,
        PurgeOutcome.SUCCEEDED,
        2,
    )
    assert f"Purge run #{run.pk}: Deleted 3 events created before " in output
    assert "and 1 profiles left without events." in output
    assert "\r" not in output  # no progress when not on a terminal
    assert (Event.objects.count(), Profile.objects.count()) == (1, 1)


def test_it_shows_progress_on_a_terminal(expired_and_fresh):
    output = purge_command("--batch-size", "2", stdout=Terminal())

    assert "\revents: 2/3 (67%) events" in output
    assert "\revents: 3/3 (100%) events" in output
    assert "Deleted 3 events" in output


def test_a_dry_run_prints_what_would_go_and_deletes_nothing(expired_and_fresh):
    output = purge_command("--dry-run", "--days", "9")

    assert "Dry run: 3 events created before " in output
    assert "and 1 profiles left without events would be deleted." in output
    assert PurgeRun.objects.get().dry_run is True
    assert (Event.objects.count(), Profile.objects.count()) == (4, 2)


def test_a_dry_run_prints_its_summary_once(expired_and_fresh, caplog):
    caplog.set_level(logging.INFO)

    output = purge_command("--dry-run", "--days", "9")

    assert output.count("Dry run:") == 1
    # Logs go to stdout too: the service's INFO line would print the summary a second time.
    assert not [r for r in caplog.records if "Dry run:" in r.getMessage()]


def test_help_lists_the_exit_statuses():
    manage = Path(__file__).resolve().parents[2] / "manage.py"

    help_text = subprocess.run(
        [sys.executable, str(manage), "purge_old_data", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert "exit status:" in help_text
    for line in (
        "  0  done",
        "  1  failed",
        "  2  bad arguments",
        f"  {EXIT_ALREADY_RUNNING}  another purge is running",
    ):
        assert line in help_text


@pytest.mark.parametrize(
    ("option", "value", "high"),
    [
        *[("--days", value, "36500") for value in ["0", "-1", "abc", "1.5", "", "36501"]],
        *[("--batch-size", value, "100000") for value in ["0", "-5", "x", "100001"]],
    ],
)
def test_it_rejects_a_number_out_of_range_with_a_clear_message(
    expired_and_fresh, option, value, high
):
    with pytest.raises(CommandError) as raised:
        purge_command(option, value)

    expected = f"argument {option}: must be a whole number from 1 to {high}, got {value!r}"
    assert expected in str(raised.value)
    assert not PurgeRun.objects.exists()
    assert Event.objects.count() == 4


def test_it_exits_non_zero_when_another_purge_runs(expired_and_fresh):
    other = running_run()

    with pytest.raises(CommandError) as raised:
        purge_command()

    assert raised.value.returncode == EXIT_ALREADY_RUNNING
    assert f"Another purge is running (run #{other.pk}" in str(raised.value)
    assert Event.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_it_exits_non_zero_when_the_purge_fails(poisoned_delete):
    event_at(days_ago(10), event_name=poisoned_delete)

    with pytest.raises(CommandError) as raised:
        purge_command()

    assert raised.value.returncode == 1
    assert "poisoned row" in str(raised.value)
    assert PurgeRun.objects.get().outcome == PurgeOutcome.FAILED
    assert Event.objects.count() == 1
