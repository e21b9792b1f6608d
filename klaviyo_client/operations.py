"""Klaviyo's operations this project calls: method, path (below /api, as in the spec) and the
rate-limit bucket they count against (klaviyo_client/limits.py RATE_LIMITS)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    """One Klaviyo operation: its spec path (below /api), method and rate-limit bucket."""

    method: str
    path: str
    bucket: str

    @property
    def name(self) -> str:
        return f"{self.method} /api/{self.path}"


GET_ACCOUNTS = Operation("GET", "accounts", "accounts")
GET_METRICS = Operation("GET", "metrics", "metrics")
GET_PROFILES = Operation("GET", "profiles", "profiles")
GET_EVENTS = Operation("GET", "events", "events_read")
QUERY_METRIC_AGGREGATES = Operation("POST", "metric-aggregates", "metric_aggregates")
CREATE_EVENT = Operation("POST", "events", "events")
BULK_CREATE_EVENTS = Operation("POST", "event-bulk-create-jobs", "bulk_events")
PROFILE_IMPORT = Operation("POST", "profile-import", "profile_import")
# PATCH /api/profiles/{id} (75/s, 750/m in the spec) shares profile-import's bucket: it is only
# the follow-up of a profile-import's 409, never a flow of its own.
UPDATE_PROFILE = Operation("PATCH", "profiles/{id}", "profile_import")
PROFILE_BULK_IMPORT = Operation("POST", "profile-bulk-import-jobs", "profile_bulk_import")
GET_PROFILE_BULK_IMPORT_JOB = Operation(
    "GET", "profile-bulk-import-jobs/{id}", "profile_bulk_import_job"
)
GET_PROFILE_BULK_IMPORT_ERRORS = Operation(
    "GET", "profile-bulk-import-jobs/{id}/import-errors", "profile_bulk_import_errors"
)
REQUEST_PROFILE_DELETION = Operation("POST", "data-privacy-deletion-jobs", "profile_deletion")
GET_LISTS = Operation("GET", "lists", "lists")
ADD_PROFILES_TO_LIST = Operation("POST", "lists/{id}/relationships/profiles", "list_add")
REMOVE_PROFILES_FROM_LIST = Operation("DELETE", "lists/{id}/relationships/profiles", "list_remove")
SUBSCRIBE_PROFILES = Operation("POST", "profile-subscription-bulk-create-jobs", "profile_subscribe")
UNSUBSCRIBE_PROFILES = Operation(
    "POST", "profile-subscription-bulk-delete-jobs", "profile_unsubscribe"
)
SUPPRESS_PROFILES = Operation("POST", "profile-suppression-bulk-create-jobs", "profile_suppress")
UNSUPPRESS_PROFILES = Operation(
    "POST", "profile-suppression-bulk-delete-jobs", "profile_unsuppress"
)
