"""Every Klaviyo limit this project relies on, declared once.

Sources: Klaviyo's OpenAPI document, revision 2026-07-15 (klaviyo_emulator/openapi/stable.json:
the operations' and properties' descriptions, `x-klaviyo-ratelimit`), and the ingestion limits
of https://developers.klaviyo.com/en/docs/rate_limits_and_error_handling. Where the two
disagree, checks of what we send take the stricter value and throttling the spec's.
(The emulator declares its own copy on purpose: it stands for Klaviyo and imports none of ours.)
"""

from datetime import UTC, datetime, timedelta

# --- An event (POST /api/events, and each event of a bulk job) ----------------------------------

# The metric name "must be less than 128 characters" (spec).
MAX_METRIC_NAME = 127
# The spec says "must not exceed 400 properties"; the docs' ingestion limits say "Max number of
# event properties per data packet: 300". The stricter one.
MAX_EVENT_PROPERTIES = 300
# "each string cannot be larger than 100 KB" (spec); "Max size of any field: 100 kB" (docs).
MAX_STRING_BYTES = 100 * 1024
MAX_ARRAY_ITEMS = 4000  # "Max number of items in arrays" (docs)
MAX_NESTING = 10  # "Max levels of nested objects" (docs)
# "The size of the event payload must not exceed 5 MB" (spec), "5 MB decompressed" (docs).
MAX_EVENT_BYTES = 5_000_000
# "Between 2000 and now+1 year" (docs); the spec says after 1990. The stricter one.
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_EVENT_AHEAD = timedelta(days=365)

# --- A bulk job (POST /api/event-bulk-create-jobs) ---------------------------------------------

MAX_BULK_EVENTS = 1000  # "at most 1,000 events per request" (spec)
MAX_BULK_BYTES = 5_000_000  # "payload size must not exceed 5 MB" (spec)

# --- A profile bulk import job (POST /api/profile-bulk-import-jobs) ---------------------------

# "Accepts up to 10,000 profiles per request. The maximum allowed payload size is 5MB. The
# maximum allowed payload size per-profile is 100KB." (the operation's description in the spec)
MAX_BULK_PROFILES = 10_000
MAX_BULK_PROFILES_BYTES = 5_000_000
MAX_BULK_PROFILE_BYTES = 100_000
# A job's import errors come in pages of at most 100 (page[size]'s schema).
MAX_IMPORT_ERRORS_PAGE = 100

# --- Reads --------------------------------------------------------------------------------------

# GET /api/events: page[size] defaults to 200 and may be up to 1,000 (the parameter's schema).
DEFAULT_EVENTS_PAGE = 200
MAX_EVENTS_PAGE = 1000
# Time zones POST /api/metric-aggregates rejects although they are IANA names (its `timezone`
# enum in the spec lacks them): asking would only spend a call of a 60/min budget.
AGGREGATE_UNSUPPORTED_ZONES = frozenset({"Factory", "Europe/Kyiv", "Pacific/Kanton"})

# --- Rate limits, per account and endpoint: "<burst>/s,<steady>/m" (`x-klaviyo-ratelimit`) ------

RATE_LIMITS = {
    "events": "350/s,3500/m",  # POST /api/events
    "bulk_events": "10/s,150/m",  # POST /api/event-bulk-create-jobs
    # POST /api/profile-import: tier L, 700/m in the docs, 750/m in the spec: the stricter one.
    "profile_import": "75/s,700/m",
    "profile_bulk_import": "10/s,150/m",
    "profile_bulk_import_job": "10/s,150/m",  # GET /api/profile-bulk-import-jobs/{id}
    "profile_bulk_import_errors": "10/s,150/m",  # GET .../{id}/import-errors
    "profile_deletion": "3/s,60/m",  # POST /api/data-privacy-deletion-jobs
    "accounts": "1/s,15/m",
    "metrics": "10/s,150/m",
    "profiles": "75/s,750/m",
    "events_read": "350/s,3500/m",
    "metric_aggregates": "3/s,60/m",
}
