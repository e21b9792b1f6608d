import logging

from celery import shared_task

from cleanup.models import PurgeRun, PurgeTrigger
from cleanup.services import (
    PurgeAlreadyRunning,
    PurgeFailed,
    PurgeRunNotQueued,
    purge_expired_data,
    purge_run_execute,
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
