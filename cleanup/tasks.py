import logging

from celery import shared_task
from django.db import transaction

from cleanup.models import PurgeRun, PurgeTrigger
from cleanup.services import (
    PurgeAlreadyRunning,
    PurgeFailed,
    PurgeQueueUnavailable,
    PurgeRunNotQueued,
    purge_expired_data,
    purge_run_create,
    purge_run_execute,
    purge_run_queue_failed,
)

logger = logging.getLogger(__name__)


@shared_task(name="cleanup.tasks.purge_expired_data_task")
def purge_expired_data_task(run_id: int | None = None) -> None:
    """celery-beat calls it with no arguments (a new run, trigger `beat`); POST /cleanup/manual
    with `async` passes the id of the run it recorded.

    Outcomes are recorded on the PurgeRun, so nothing is raised to Celery: a failed purge is not
    retried here, the next daily run deletes what this one left.
    """
    try:
        if run_id is None:
            purge_expired_data(trigger=PurgeTrigger.BEAT)
        else:
            purge_run_execute(run_id=run_id)
    except (PurgeAlreadyRunning, PurgeFailed) as error:
        logger.warning("Purge run #%s: %s", error.run.pk, error.run.summary)
    except PurgeRunNotQueued as error:
        logger.info("%s", error)  # delivered twice; the first delivery ran it
    except PurgeRun.DoesNotExist:
        logger.warning("Purge run #%s does not exist; nothing to run", run_id)


def purge_run_queue(
    *, trigger: PurgeTrigger, days: int | None = None, dry_run: bool = False
) -> PurgeRun:
    """Records a queued run and hands it to the worker once the transaction commits."""
    run = purge_run_create(trigger=trigger, days=days, dry_run=dry_run)

    def send() -> None:
        try:
            purge_expired_data_task.delay(run_id=run.pk)
        except Exception as error:  # the broker's errors have no common base class
            logger.exception("Purge run #%s could not be queued", run.pk)
            purge_run_queue_failed(run=run, error=error)
            raise PurgeQueueUnavailable(run) from error

    transaction.on_commit(send)
    run.refresh_from_db()
    return run
