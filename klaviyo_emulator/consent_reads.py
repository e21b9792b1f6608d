"""Polling a suppression job: `GET /api/profile-suppression-bulk-create-jobs/{job_id}` and
`.../profile-suppression-bulk-delete-jobs/{job_id}` (states: suppression_jobs.py)."""

from werkzeug.wrappers import Response

from klaviyo_emulator.consent_resources import suppression_job_resource
from klaviyo_emulator.context import HandlerContext
from klaviyo_emulator.jsonapi import ApiError, document


def _job(ctx: HandlerContext, job_type: str) -> Response:
    job_id = ctx.args["job_id"]
    with ctx.store.lock:
        job = ctx.store.suppression_jobs.get(job_id)
        if job is None or job.type != job_type:
            raise ApiError.one(404, f"Job {job_id} was not found.", parameter="job_id")
        job.reads += 1
        resource = suppression_job_resource(ctx.request, job)
    return document({"data": resource, "links": {"self": f"{ctx.request.base_url}"}})


def get_bulk_suppress_profiles_job(ctx: HandlerContext) -> Response:
    return _job(ctx, "profile-suppression-bulk-create-job")


def get_bulk_unsuppress_profiles_job(ctx: HandlerContext) -> Response:
    return _job(ctx, "profile-suppression-bulk-delete-job")
