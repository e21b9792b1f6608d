"""Klaviyo's asynchronous jobs: profile bulk imports (create one, follow it, read its per-profile
errors) and data-privacy deletion jobs. A part of KlaviyoClient (its base class), kept apart to
keep each file readable; every call goes through the client's one `_call`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from klaviyo_client import operations as ops
from klaviyo_client.limits import MAX_IMPORT_ERRORS_PAGE
from klaviyo_client.query import cursor_from_link

if TYPE_CHECKING:
    import requests

# A job's `status` once Klaviyo is done with it (the spec's enum: cancelled, complete,
# processing, queued).
JOB_ENDED = frozenset({"complete", "cancelled"})
# A job's body around its profiles: {"data": {"type": ..., "attributes": {"profiles": {"data": [
# ...]}}, then its relationships if any, then }}.
JOB_BODY_START = b'{"data":{"type":"profile-bulk-import-job","attributes":{"profiles":{"data":['
JOB_PROFILES_END = b"]}}"
JOB_BODY_END = JOB_PROFILES_END + b"}}"  # without relationships


class JobCalls:
    def _call(self, operation: ops.Operation, **kwargs: Any) -> requests.Response:
        raise NotImplementedError  # KlaviyoClient's

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        raise NotImplementedError  # KlaviyoClient's

    def profile_bulk_import_job(
        self,
        *,
        profiles: Sequence[dict[str, Any] | bytes],
        list_ids: Sequence[str] = (),
        attempt: int = 1,
    ) -> dict[str, Any]:
        """POST /api/profile-bulk-import-jobs with profile resources (or their JSON, encoded
        once by the caller that measured them against the 5 MB limit); the job resource. Each
        profile is also added to the lists of `list_ids` (`relationships.lists`)."""
        encoded = [
            item if isinstance(item, bytes) else json.dumps(item, separators=(",", ":")).encode()
            for item in profiles
        ]
        relationships = b""
        if list_ids:
            lists = [{"type": "list", "id": list_id} for list_id in list_ids]
            relationships = (
                b',"relationships":'
                + json.dumps({"lists": {"data": lists}}, separators=(",", ":")).encode()
            )
        body = JOB_BODY_START + b",".join(encoded) + JOB_PROFILES_END + relationships + b"}}"
        response = self._call(ops.PROFILE_BULK_IMPORT, raw_body=body, attempt=attempt)
        return self._json(response).get("data") or {}

    def profile_bulk_import_job_get(self, *, job_id: str) -> dict[str, Any]:
        """GET /api/profile-bulk-import-jobs/{id}: the job, with `attributes.status`."""
        response = self._call(ops.GET_PROFILE_BULK_IMPORT_JOB, path_id=job_id)
        return self._json(response).get("data") or {}

    def profile_bulk_import_errors(self, *, job_id: str) -> list[dict[str, Any]]:
        """Every import error of the job (each with `detail` and the `original_payload` of the
        profile it is about), following the pages."""
        errors: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"page[size]": str(MAX_IMPORT_ERRORS_PAGE)}
            if cursor:
                params["page[cursor]"] = cursor
            body = self._json(
                self._call(ops.GET_PROFILE_BULK_IMPORT_ERRORS, params=params, path_id=job_id)
            )
            errors += [item.get("attributes") or {} for item in body.get("data") or []]
            cursor = cursor_from_link((body.get("links") or {}).get("next"))
            if not cursor:
                return errors

    def profile_deletion_job(self, *, identifier: str, value: str, attempt: int = 1) -> int:
        """POST /api/data-privacy-deletion-jobs for the profiles Klaviyo knows by `identifier`
        (email, phone_number or id): 202, no body. Klaviyo takes exactly one identifier ("If
        multiple identifiers are provided, we will return an error") and deletes "all profiles
        that match" it, asynchronously; rate limit 3/s, 60/m
        (https://developers.klaviyo.com/en/reference/request_profile_deletion)."""
        profile: dict[str, Any] = {"type": "profile", "attributes": {}}
        if identifier == "id":
            profile["id"] = value
        else:
            profile["attributes"][identifier] = value
        body = {
            "data": {
                "type": "data-privacy-deletion-job",
                "attributes": {"profile": {"data": profile}},
            }
        }
        return self._call(ops.REQUEST_PROFILE_DELETION, body=body, attempt=attempt).status_code
