"""The purge lock always comes back: recording a run's outcome goes on through deadlocks and
lost connections, and a run that can't start is recorded as failed, never left `queued` or
`running` with the lock. Transactional: a retry runs on a fresh connection, outside any
test transaction."""

from collections.abc import Callable, Iterator

import pytest
from django.db import OperationalError
from django.db.models import QuerySet

from cleanup.models import PurgeOutcome, PurgeRun, PurgeTrigger
from cleanup.services import PurgeFailed, purge_expired_data, purge_run_create
from cleanup.tasks import purge_expired_data_task
from cleanup.tests.conftest import days_ago, event_at
from events.models import Event

pytestmark = pytest.mark.django_db(transaction=True)

DEADLOCK = (1213, "Deadlock found when trying to get lock; try restarting transaction")
LOST = (2013, "Lost connection to server during query")
LOCK_WAIT = (1205, "Lock wait timeout exceeded; try restarting transaction")


@pytest.fixture
def failing_updates(monkeypatch) -> Iterator[Callable[..., list[dict]]]:
    """`failing_updates(error, times, when)`: the next `times` UPDATEs of purge runs whose
    changes satisfy `when` raise OperationalError(*error), as MariaDB would."""
    real_update = QuerySet.update
    raised: list[dict] = []

    def arm(error: tuple, times: int, when: Callable[[dict], bool]) -> list[dict]:
        def update(self, **changes):
            if self.model is PurgeRun and when(changes) and len(raised) < times:
                raised.append(changes)
                raise OperationalError(*error)
            return real_update(self, **changes)

        monkeypatch.setattr(QuerySet, "update", update)
        return raised

    yield arm


def finishing(changes: dict) -> bool:
    """The update that records a run's outcome and frees its lock."""
    return "finished_at" in changes and "events_deleted" in changes


def taking_the_lock(changes: dict) -> bool:
    return changes.get("outcome") == PurgeOutcome.RUNNING


def assert_the_next_purge_runs() -> None:
    event_at(days_ago(30))
    run = purge_expired_data(trigger=PurgeTrigger.COMMAND)
    assert (run.outcome, run.events_deleted) == (PurgeOutcome.SUCCEEDED, 1)


@pytest.mark.parametrize("error", [DEADLOCK, LOST], ids=["deadlock", "lost connection"])
def test_the_outcome_is_recorded_through_a_deadlock_or_a_lost_connection(failing_updates, error):
    event_at(days_ago(30))
    raised = failing_updates(error, 2, finishing)

    run = purge_expired_data(trigger=PurgeTrigger.MANUAL)

    assert len(raised) == 2
    run.refresh_from_db()
    assert (run.outcome, run.events_deleted, run.running_lock) == (
        PurgeOutcome.SUCCEEDED,
        1,
        None,
    )
    assert_the_next_purge_runs()


def test_a_deadlock_taking_the_lock_is_run_again(failing_updates):
    raised = failing_updates(DEADLOCK, 1, taking_the_lock)

    run = purge_expired_data(trigger=PurgeTrigger.MANUAL)

    assert len(raised) == 1 and run.outcome == PurgeOutcome.SUCCEEDED


@pytest.mark.parametrize(
    "error, times", [(DEADLOCK, 3), (LOCK_WAIT, 1)], ids=["deadlocks", "lock wait timeout"]
)
def test_a_run_that_cannot_start_is_failed_not_left_queued(failing_updates, error, times):
    failing_updates(error, times, taking_the_lock)

    with pytest.raises(PurgeFailed) as raised:
        purge_expired_data(trigger=PurgeTrigger.MANUAL)

    run = PurgeRun.objects.get()
    assert raised.value.run.pk == run.pk
    assert (run.outcome, run.running_lock) == (PurgeOutcome.FAILED, None)
    assert run.error.startswith("Could not start: OperationalError")
    assert run.finished_at is not None
    assert_the_next_purge_runs()


def test_an_async_run_that_cannot_start_is_failed_not_left_queued(failing_updates):
    queued = purge_run_create(trigger=PurgeTrigger.MANUAL)
    failing_updates(LOCK_WAIT, 1, taking_the_lock)

    purge_expired_data_task.delay(run_id=queued.pk)

    queued.refresh_from_db()
    assert (queued.outcome, queued.running_lock) == (PurgeOutcome.FAILED, None)
    assert_the_next_purge_runs()


def test_the_api_answers_503_and_records_the_run_failed(api_client, failing_updates):
    failing_updates(LOCK_WAIT, 1, taking_the_lock)

    response = api_client.post("/cleanup/manual", {}, format="json")

    assert response.status_code == 503, response.content
    run = PurgeRun.objects.get()
    assert run.outcome == PurgeOutcome.FAILED
    assert f"run #{run.pk}" in response.json()["message"][0]
    assert Event.objects.count() == 0
    again = api_client.post("/cleanup/manual", {}, format="json")
    assert again.status_code == 200, again.content
