import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class SyncStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (no Klaviyo key)"


# Why a row is `skipped`: recorded at ingest (and by the sync) while KLAVIYO_API_KEY is empty.
NO_KEY_MESSAGE = "Not sent: KLAVIYO_API_KEY is not configured"


def initial_sync_fields() -> dict[str, str]:
    """sync_status and last_error of a row stored now: `skipped` while no Klaviyo key is set
    (nothing would send it; `manage.py resync` can once one is), else `pending`. The API's
    answer then says the status the row really has."""
    if settings.KLAVIYO_API_KEY:
        return {"sync_status": SyncStatus.PENDING, "last_error": ""}
    return {"sync_status": SyncStatus.SKIPPED, "last_error": NO_KEY_MESSAGE}


class Profile(models.Model):
    """One person, identified by email or, lacking one, by phone number or external id.

    `identity` is the key every upsert goes through: the email when there is one, else
    `phone:<E.164>` or `external:<id>`. Attributes are the merge of everything clients sent.
    """

    # identity, email, external_id (and Event's unique_id, event_name, email, Metric's name)
    # compare exactly on MySQL too: binary collation by migration 0003, which an AlterField of
    # them would undo (Django's MODIFY names no collation). Re-apply it in that migration.
    identity = models.CharField(max_length=300, unique=True)
    email = models.CharField(max_length=254, unique=True, null=True, blank=True)
    phone_number = models.CharField(max_length=32, null=True, blank=True, db_index=True)
    external_id = models.CharField(max_length=255, null=True, blank=True, db_index=True)
    attributes = models.JSONField(default=dict, blank=True)
    klaviyo_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    sync_status = models.CharField(
        max_length=16, choices=SyncStatus.choices, default=SyncStatus.PENDING
    )
    last_error = models.TextField(blank=True, default="")
    synced_at = models.DateTimeField(null=True, blank=True)
    # The sync of its ProfileChanges (POST /profiles): tries so far, and when the next may go
    # (db_default: the raw upserts of events.profile_services insert profiles without naming
    # attempts). Due at once is kept as an instant, not NULL, which a claim would grow every
    # row to fill (InnoDB splits the pages): profile_services.profiles_upsert stores a new
    # row's creation, and the arrival of a change where a sync ended (NULL; a claim or retry
    # held stays).
    # 10,000 rows claimed: 115-145 ms from NULL, 19-40 ms from an instant (a first import, and
    # one of profiles sent before). NULL, left by a sync's end or a claim given back, is due.
    attempts = models.PositiveIntegerField(default=0, db_default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.identity

    @property
    def anonymous_id(self) -> str | None:
        value = self.attributes.get("anonymousId")
        return value if isinstance(value, str) else None


class ProfileChange(models.Model):
    """What one POST /profiles (or one item of a bulk) told us about a profile, as sent (a
    merge patch: null removes), kept until Klaviyo has it. The worker sends Klaviyo the patches
    of a profile merged in id order, and only them: what changed, not the whole profile."""

    id = models.BigAutoField(primary_key=True)
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="changes")
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"change {self.id} of profile {self.profile_id}"


class Metric(models.Model):
    """A metric (event name) and, once Klaviyo has told us, Klaviyo's id for it."""

    name = models.CharField(max_length=255, unique=True)  # exact on MySQL too: see Profile
    klaviyo_id = models.CharField(max_length=64, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Event(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event_name = models.CharField(max_length=255)  # exact on MySQL too: see Profile
    email = models.CharField(max_length=254, null=True, blank=True)
    profile = models.ForeignKey(Profile, on_delete=models.PROTECT, related_name="events")
    event_attributes = models.JSONField(default=dict, blank=True)
    profile_attributes = models.JSONField(default=dict, blank=True)
    time = models.DateTimeField(default=timezone.now)
    value = models.FloatField(null=True, blank=True)
    # The client's idempotency key, as Klaviyo's unique_id: one event per profile, metric and
    # key (event_profile_name_unique_id below); a repeat returns the first event.
    unique_id = models.CharField(max_length=255, null=True, blank=True, db_index=True)
    # ISO 4217 code of `value` (Klaviyo's value_currency); None: the account's currency.
    value_currency = models.CharField(max_length=3, null=True, blank=True)
    sync_status = models.CharField(
        max_length=16, choices=SyncStatus.choices, default=SyncStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    # last_error without what differs from event to event (events/failures.py), written with
    # it: failed and skipped events group by it on an index (staff console, admin filter).
    failure_reason = models.CharField(max_length=300, blank=True, default="")
    klaviyo_response = models.TextField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # When the event may next be sent: a scheduled retry, or the end of a worker's hold on it
    # while sending. The sweeper leaves it alone until well after that (klaviyo_sync).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When the sweeper queues the event again if it is still pending and unclaimed by then: at
    # once when queueing it failed (broker down), at the end of a claim's lease (the worker died),
    # SYNC_STALE_PENDING_SECONDS after a task was queued for it (a task lost in the broker).
    # Null: its first task was queued when it was saved (the sweeper goes by created_at).
    requeue_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Counts and distinct emails per metric and day are range scans on this one.
            models.Index(fields=["event_name", "time", "email"], name="event_name_time_email"),
            models.Index(fields=["email", "event_name", "time"], name="event_email_name_time"),
            # (created_at, id): what InnoDB stores for (created_at) anyway, but two columns
            # declared. Of the indexes that give GET /events' order, MariaDB keeps the one of
            # fewest declared columns whatever their ranges cost: a status over a month of
            # received events went through this one, each row read for its status (1M events:
            # 200 ms-1 s a page), not through (sync_status, created_at).
            models.Index(fields=["created_at", "id"], name="event_created_at"),
            models.Index(fields=["sync_status", "created_at"], name="event_status_created"),
            # Failures by reason (staff console), and a reason's events newest first.
            models.Index(
                fields=["sync_status", "failure_reason", "created_at"], name="event_status_reason"
            ),
            # Deliveries per hour and their delay: the last day's sends, read from the index alone.
            models.Index(fields=["synced_at", "created_at"], name="event_synced_created"),
            # The sweeper's two range scans: due rows (requeue_at <= now), and rows queued when
            # saved (requeue_at IS NULL) by age.
            models.Index(
                fields=["sync_status", "requeue_at", "created_at"], name="event_status_requeue"
            ),
            # GET /events filtered by metric or email, newest first (events.selectors.event_list).
            models.Index(fields=["event_name", "created_at"], name="event_name_created"),
            models.Index(fields=["email", "created_at"], name="event_email_created"),
            # ... and by metric and status: the failed events of one metric are a range of
            # their own (through event_name_created, 1M events: 200-280 ms of row reads).
            models.Index(
                fields=["event_name", "sync_status", "created_at"], name="event_name_status_created"
            ),
        ]
        constraints = [
            # Klaviyo: "If the unique_id is repeated for the same profile and metric, only the
            # first processed event will be recorded" (spec, EventCreateQueryV2). An order id
            # reused for Placed then Fulfilled Order, or by another customer, is a new event.
            models.UniqueConstraint(
                fields=["profile", "event_name", "unique_id"],
                name="event_profile_name_unique_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_name} {self.email or self.profile_id} {self.time:%Y-%m-%d %H:%M}"

    @property
    def sent_to_klaviyo(self) -> bool:
        return self.sync_status == SyncStatus.SENT

    @property
    def klaviyo_unique_id(self) -> str:
        """What Klaviyo dedupes on, so a retried send never counts twice."""
        return self.unique_id or str(self.id)


class ConsentKind(models.TextChoices):
    """What a consent change asks of Klaviyo. Each kind has its sender in klaviyo_sync
    (consent_senders.py): the Klaviyo operation and how many addresses one request takes."""

    SUBSCRIBE = "subscribe", "Subscribe"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribe"
    SUPPRESS = "suppress", "Suppress"
    UNSUPPRESS = "unsuppress", "Unsuppress"
    LIST_ADD = "list_add", "Add to list"
    LIST_REMOVE = "list_remove", "Remove from list"


class ConsentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class ConsentChange(models.Model):
    """One request that changes consent, suppression or list membership, kept as asked (with its
    addresses, ConsentChangeProfile) and as Klaviyo answered: legal data, kept after it is sent.

    Changes reach Klaviyo in id order per address: a change is claimed only when no earlier
    pending change shares one of its addresses (klaviyo_sync/consent_sync.py)."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=16, choices=ConsentKind.choices)
    # "email", "sms": the channels of a subscribe or unsubscribe; empty for the other kinds.
    channels = models.JSONField(default=list, blank=True)
    list_id = models.CharField(max_length=64, null=True, blank=True)  # Klaviyo's list id
    historical_import = models.BooleanField(default=False)
    profile_count = models.PositiveIntegerField(default=0)  # its addresses (ConsentChangeProfile)
    status = models.CharField(
        max_length=16, choices=ConsentStatus.choices, default=ConsentStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    # The ids of the jobs Klaviyo created, one per request that answered with one (suppression
    # jobs do; subscription jobs answer 202 without a body).
    klaviyo_job_ids = models.JSONField(default=list, blank=True)
    # When it may next be sent: a scheduled retry, or the end of a worker's hold on it while
    # sending (the claim). The sweeper queues pending changes whose time is long past.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="consent_status_next"),
            models.Index(fields=["kind", "status", "created_at"], name="consent_kind_status"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.id}"


class ConsentChangeProfile(models.Model):
    """One address of a consent change: what the change asks for this person, and when Klaviyo
    accepted the request that carried it (sent_at; a change is sent in several requests where
    Klaviyo takes fewer addresses per request than the change holds)."""

    id = models.BigAutoField(primary_key=True)
    change = models.ForeignKey(ConsentChange, on_delete=models.CASCADE, related_name="profiles")
    email = models.CharField(max_length=254, null=True, blank=True)
    phone_number = models.CharField(max_length=32, null=True, blank=True)
    consented_at = models.DateTimeField(null=True, blank=True)  # historical imports only
    # The local profile with this email (or, lacking one, phone number) when the change was
    # stored. The record of what was asked outlives the profile: no database constraint, as the
    # purge deletes expired profiles with raw statements (cleanup/services.py); a link to a
    # deleted profile reads as none (ids are never reused), an ORM delete sets it null.
    profile = models.ForeignKey(
        Profile,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="consent_changes",
        db_constraint=False,
    )
    klaviyo_id = models.CharField(max_length=64, null=True, blank=True)  # where a sender needs it
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The order guard and a profile's consent as last sent: an address's changes.
            models.Index(fields=["email", "change"], name="consent_profile_email"),
            models.Index(fields=["phone_number", "change"], name="consent_profile_phone"),
        ]

    def __str__(self) -> str:
        return self.email or self.phone_number or f"address {self.id}"


class ErasureStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent (Klaviyo accepted it)"
    FAILED = "failed", "Failed"


class ErasureIdentifier(models.TextChoices):
    """What names the person: Klaviyo's data-privacy-deletion-jobs takes an email, a phone
    number or its own profile id; an external id is resolved to that id when sent."""

    EMAIL = "email", "email"
    PHONE_NUMBER = "phone_number", "phone number"
    EXTERNAL_ID = "external_id", "external id"


class ErasureRequest(models.Model):
    """One person's erasure (DELETE /profiles/{email}, POST /profiles/erasures): what was
    deleted here, and Klaviyo's deletion job, sent by the worker (klaviyo_sync/erasure_sync.py).

    `identifier` holds the address only until Klaviyo accepted the job: then it is blanked and
    `identifier_sha256` (kept from the start) is all that remains of it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    identifier_kind = models.CharField(max_length=16, choices=ErasureIdentifier.choices)
    identifier = models.CharField(max_length=300, blank=True, default="")
    identifier_sha256 = models.CharField(max_length=64, db_index=True)
    status = models.CharField(
        max_length=16, choices=ErasureStatus.choices, default=ErasureStatus.PENDING
    )
    deleted_profiles = models.PositiveIntegerField(default=0)
    deleted_events = models.PositiveIntegerField(default=0)
    # Not sent before this: the end of the longest send lease a worker held on the person's
    # events or profile changes when they were deleted (erasure_sync.py says why).
    hold_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    # When a worker may next take it: a scheduled retry, the end of a hold, or of a claim.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        indexes = [
            # The sweeper: pending requests due by next_attempt_at; the admin's status filter.
            models.Index(fields=["status", "next_attempt_at"], name="erasure_status_next"),
            models.Index(fields=["requested_at"], name="erasure_requested_at"),
        ]

    def __str__(self) -> str:
        return f"erasure {self.id} ({self.status})"


class ProfileImportJob(models.Model):
    """A profile-bulk-import-job Klaviyo accepted and has not finished (Klaviyo runs it after
    answering): an erasure waits for the jobs started before it, which may hold the person."""

    job_id = models.CharField(max_length=64, primary_key=True)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"import job {self.job_id}"
