"""What the emulator received, kept in memory: profiles, metrics, events, import jobs, counters.

Events are deduplicated as Klaviyo does: one event per profile, metric and `unique_id` (or, with
no unique_id, per second of its time); the first received is kept. Every received copy is still
counted per that key, so a test can tell "stored once" (Klaviyo's exactly-once) from "sent
once" (no redundant sends).

Profiles change as Klaviyo changes them: a standard attribute or location key sent as null is
cleared; a custom property sent as null is kept with a null value (only
`meta.patch_properties.unset` removes one); identifiers that name two profiles are a conflict
(`409 duplicate_profile` on profile writes).
"""

import threading
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from klaviyo_emulator import ids
from klaviyo_emulator.consent_store import ConsentBook
from klaviyo_emulator.history import History
from klaviyo_emulator.lists_store import ListBook
from klaviyo_emulator.profile_merge import merge_attributes
from klaviyo_emulator.suppression_jobs import SuppressionJob

PROFILE_IDENTIFIERS = ("email", "phone_number", "external_id", "_kx", "anonymous_id")
API_INTEGRATION = {
    "object": "integration",
    "id": "0eMvjm",
    "key": "api",
    "name": "API",
    "category": "API",
}


HANDLING_KEPT = 10_000  # handling times kept per endpoint, for the percentiles


def _distribution(seconds: deque[float]) -> dict[str, float]:
    ordered = sorted(seconds)

    def at(fraction: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)

    mean = round(1000 * sum(ordered) / len(ordered), 2)
    return {"count": len(ordered), "mean": mean, "p50": at(0.5), "p95": at(0.95), "max": at(1.0)}


def now_utc() -> datetime:
    return datetime.now(UTC)


def parse_time(value: str | None) -> datetime:
    """Klaviyo keeps event times to the second; a time without offset is UTC."""
    if value is None:
        return now_utc().replace(microsecond=0)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(microsecond=0)


@dataclass(slots=True)
class StoredProfile:
    id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    created: datetime = field(default_factory=now_utc)
    updated: datetime = field(default_factory=now_utc)
    last_event_date: datetime | None = None


@dataclass(slots=True)
class StoredMetric:
    id: str
    name: str
    created: datetime = field(default_factory=now_utc)
    updated: datetime = field(default_factory=now_utc)


@dataclass(slots=True)
class StoredEvent:
    id: str
    metric_id: str
    metric_name: str
    profile_id: str
    time: datetime
    properties: dict[str, Any]
    value: float | None
    value_currency: str | None
    unique_id: str | None
    profile_sent: dict[str, Any]  # the profile attributes as sent with this event
    received_at: datetime = field(default_factory=now_utc)

    @property
    def key(self) -> tuple[str, str, str]:
        """What Klaviyo deduplicates on: profile, metric and unique_id (or the second)."""
        return (self.profile_id, self.metric_id, self.unique_id or f"time:{self.time.isoformat()}")

    @property
    def event_properties(self) -> dict[str, Any]:
        """As Klaviyo returns them: the properties plus `$event_id` and `$value`."""
        result = dict(self.properties)
        if self.unique_id is not None:
            result["$event_id"] = self.unique_id
        if self.value is not None:
            result["$value"] = self.value
        if self.value_currency is not None:
            result["$value_currency"] = self.value_currency
        return result

    def as_received(self, received: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "unique_id": self.unique_id,
            "metric": self.metric_name,
            "metric_id": self.metric_id,
            "profile_id": self.profile_id,
            "profile": self.profile_sent,
            "properties": self.properties,
            "time": self.time.isoformat(),
            "value": self.value,
            "value_currency": self.value_currency,
            "received": received,
        }


@dataclass(slots=True)
class ImportJob:
    id: str
    total_count: int
    completed_count: int
    errors: list[dict[str, Any]]
    profile_ids: list[str]
    created_at: datetime = field(default_factory=now_utc)
    # Klaviyo runs a job after answering: `queued`, then `processing`, then `complete`. The
    # emulator imports in the background right after its POST answer and reports the states a
    # client must follow: queued in that answer, processing at the first read, complete from
    # the second on; each read waits for the import first (`imported`).
    reads: int = 0
    imported: threading.Event = field(default_factory=threading.Event)

    @property
    def status(self) -> str:
        return ("queued", "processing")[self.reads] if self.reads < 2 else "complete"


class ProfileConflict(Exception):
    """Identifiers of one write name another profile than the one it writes."""

    def __init__(self, duplicate_profile_id: str) -> None:
        super().__init__(duplicate_profile_id)
        self.duplicate_profile_id = duplicate_profile_id


def _by_time(key: tuple[str, str, str]) -> bool:
    return key[2].startswith("time:")


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        for job in list(getattr(self, "jobs", {}).values()):
            job.imported.wait()  # an import still running would write into the new state
        with self.lock:
            self.profiles: dict[str, StoredProfile] = {}
            self._profile_index: dict[tuple[str, str], str] = {}
            self.metrics: dict[str, StoredMetric] = {}
            self._metric_by_name: dict[str, str] = {}
            self.events: list[StoredEvent] = []
            # The same events by metric and by profile: reads filter on one of them, and a
            # scan of every stored event per page made the emulator the bottleneck of benchmarks.
            self.events_by_metric: dict[str, list[StoredEvent]] = defaultdict(list)
            self.events_by_profile: dict[str, list[StoredEvent]] = defaultdict(list)
            self._event_keys: dict[tuple[str, str, str], StoredEvent] = {}
            self.jobs: dict[str, ImportJob] = {}
            # Consent, suppressions and lists (consent_store.py, lists_store.py), one history.
            self.history = History()
            self.consent = ConsentBook(self.history)
            self.lists = ListBook(self.history)
            self.suppression_jobs: dict[str, SuppressionJob] = {}
            self.deletion_jobs: list[Any] = []  # erasure.DeletionJob, in the order received
            self.events_received = 0
            # Receipts per deduplication key (profile id, metric id, unique_id).
            self.received_by_key: Counter[tuple[str, str, str]] = Counter()
            self.requests_by_endpoint: Counter[str] = Counter()
            self.responses_by_status: Counter[int] = Counter()
            self.rate_limited = 0
            self.faults_served = 0
            self.validated_requests = 0
            # Seconds each endpoint's latest requests took to handle (injected latency excluded).
            self.handling_seconds: dict[str, deque[float]] = {}

    # --- profiles -------------------------------------------------------------------------

    @staticmethod
    def _index_key(name: str, value: Any) -> tuple[str, str]:
        text = str(value)
        return (name, text.lower() if name == "email" else text)

    def profile_find(self, *, attributes: dict[str, Any], profile_id: str | None = None):
        if profile_id and profile_id in self.profiles:
            return self.profiles[profile_id]
        named = self.profiles_named(attributes)
        return self.profiles[named[0]] if named else None

    def profiles_named(self, attributes: dict[str, Any]) -> list[str]:
        """Ids of the profiles the identifiers in `attributes` name, in Klaviyo's order of
        precedence, without repeats."""
        found: list[str] = []
        for name in PROFILE_IDENTIFIERS:
            value = attributes.get(name)
            profile_id = self._profile_index.get(self._index_key(name, value)) if value else None
            if profile_id and profile_id not in found:
                found.append(profile_id)
        return found

    def profile_upsert(
        self,
        *,
        attributes: dict[str, Any],
        profile_id: str | None = None,
        unset: list[str] | None = None,
        refuse_conflicts: bool = False,
        now: datetime | None = None,
    ) -> tuple[StoredProfile, bool]:
        """Finds the profile by id or any identifier, merges `attributes` into it and removes
        the `unset` custom properties. With `refuse_conflicts` (profile writes), identifiers
        naming two profiles raise ProfileConflict with the first one's id, as Klaviyo answers
        409 duplicate_profile; an event goes to the first profile its identifiers name."""
        with self.lock:
            named = self.profiles_named(attributes)
            by_id = bool(profile_id) and profile_id in self.profiles
            if refuse_conflicts:
                if by_id:
                    others = [found for found in named if found != profile_id]
                    if others:
                        raise ProfileConflict(others[0])
                elif len(named) > 1:
                    raise ProfileConflict(named[0])
            now = now or now_utc()
            created = not by_id and not named
            if created:
                profile = StoredProfile(id=ids.profile_id(), created=now, updated=now)
                self.profiles[profile.id] = profile
            else:
                profile = self.profiles[profile_id if by_id else named[0]]  # type: ignore[index]
            stored = profile.attributes
            for name in () if created else PROFILE_IDENTIFIERS:
                if name in attributes and stored.get(name):
                    self._profile_index.pop(self._index_key(name, stored[name]), None)
            merge_attributes(stored, attributes)
            if unset and isinstance(stored.get("properties"), dict):
                for name in unset:
                    stored["properties"].pop(name, None)
            for name in PROFILE_IDENTIFIERS:
                if stored.get(name):
                    self._profile_index[self._index_key(name, stored[name])] = profile.id
            profile.updated = now
            return profile, created

    # --- metrics and events ---------------------------------------------------------------

    def metric_get_or_create(self, name: str) -> StoredMetric:
        with self.lock:
            if metric_id := self._metric_by_name.get(name):
                return self.metrics[metric_id]
            metric = StoredMetric(id=ids.metric_id(), name=name)
            while metric.id in self.metrics:
                metric.id = ids.metric_id()
            self.metrics[metric.id] = metric
            self._metric_by_name[name] = metric.id
            return metric

    def event_record(
        self,
        *,
        profile: StoredProfile,
        profile_sent: dict[str, Any],
        event: dict[str, Any],
        now: datetime,
    ) -> tuple[StoredEvent, bool]:
        """Stores one event (attributes of an `event` resource) of `profile` (already upserted
        with `profile_sent`) unless Klaviyo would drop it as a duplicate; returns the stored
        event and whether it is new."""
        metric_name = event["metric"]["data"]["attributes"]["name"]
        stored_profile = profile
        with self.lock:
            metric = self.metric_get_or_create(metric_name)
            raw_time = event.get("time")
            time = parse_time(raw_time) if raw_time is not None else now.replace(microsecond=0)
            unique_id = event.get("unique_id")
            self.events_received += 1
            key = (stored_profile.id, metric.id, unique_id or f"time:{time.isoformat()}")
            self.received_by_key[key] += 1
            if (earlier := self._event_keys.get(key)) is not None:
                return earlier, False
            stored = StoredEvent(
                id=ids.event_id(),
                metric_id=metric.id,
                metric_name=metric_name,
                profile_id=stored_profile.id,
                time=time,
                properties=event.get("properties") or {},
                value=event.get("value"),
                value_currency=event.get("value_currency"),
                unique_id=unique_id,
                profile_sent=profile_sent,
                received_at=now,
            )
            self._event_keys[key] = stored
            self.events.append(stored)
            self.events_by_metric[metric.id].append(stored)
            self.events_by_profile[stored_profile.id].append(stored)
            if stored_profile.last_event_date is None or time > stored_profile.last_event_date:
                stored_profile.last_event_date = time
            return stored, True

    @property
    def received_by_unique_id(self) -> Counter[str]:
        """Receipts per unique_id, whatever the profile and metric (drills look events up so)."""
        with self.lock:
            counts: Counter[str] = Counter()
            for key, received in self.received_by_key.items():
                if not _by_time(key):
                    counts[key[2]] += received
            return counts

    def events_with_unique_id(self, unique_id: str) -> list[StoredEvent]:
        with self.lock:
            return [event for event in self.events if event.unique_id == unique_id]

    def received_events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [event.as_received(self.received_by_key[event.key]) for event in self.events]

    # --- counters -------------------------------------------------------------------------

    def handling_record(self, endpoint: str, seconds: float) -> None:
        with self.lock:
            recent = self.handling_seconds.setdefault(endpoint, deque(maxlen=HANDLING_KEPT))
            recent.append(seconds)

    def counters(self) -> dict[str, Any]:
        with self.lock:
            stored = len(self.events)
            return {
                "events_received": self.events_received,
                "events_stored": stored,
                "duplicates": self.events_received - stored,
                "unique_ids": sum(1 for key in self.received_by_key if not _by_time(key)),
                "redundant_sends": sum(n - 1 for n in self.received_by_key.values()),
                "profiles": len(self.profiles),
                "deletion_jobs": len(self.deletion_jobs),
                "metrics": len(self.metrics),
                "rate_limited": self.rate_limited,
                "faults_served": self.faults_served,
                "validated_requests": self.validated_requests,
                "requests_by_endpoint": dict(self.requests_by_endpoint),
                "responses_by_status": {str(k): v for k, v in self.responses_by_status.items()},
                "handling_ms": {
                    endpoint: _distribution(recent)
                    for endpoint, recent in self.handling_seconds.items()
                },
            }
