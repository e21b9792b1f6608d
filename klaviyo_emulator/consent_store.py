"""Each profile's consent per channel and its email suppressions, changed as Klaviyo changes
them (sources quoted from the spec's descriptions, revision 2026-07-15):

- Subscribe (`bulk_subscribe_profiles`) sets consent SUBSCRIBED on each channel it names and
  "will remove any `UNSUBSCRIBE`, `SPAM_REPORT` or `USER_SUPPRESSED` suppressions from the
  provided profiles" (SPAM_COMPLAINT in the profile schema's reason enum); a HARD_BOUNCE or
  INVALID_EMAIL suppression stays. Segment's Klaviyo destination documents the same: "When a
  profile is subscribed in Klaviyo, it automatically unsuppresses any previously suppressed
  user" (segmentio/segment-docs#6877).
- Unsubscribe (`bulk_unsubscribe_profiles`) sets consent UNSUBSCRIBED; for email Klaviyo also
  suppresses the address with reason UNSUBSCRIBE (which subscribe removes, above). The emulated
  account has Klaviyo's global unsubscribe on ("highly recommended": "someone will become
  globally suppressed in your account after unsubscribing from any email. This means that if
  someone unsubscribes from just one list, they will be suppressed from any list they are on",
  Klaviyo's "Guide to Suppressed Profiles", quoted on community.klaviyo.com, topic 3304), so an
  unsubscribe is global even with a list; the list only loses the profile ("All profiles will
  be removed from the provided list", spec; consent_writes.py). Other lists keep it: "when
  someone becomes globally suppressed, this person is not automatically removed from any
  lists" (help.klaviyo.com, article 115005077307).
- Suppress (`bulk_suppress_profiles`) adds a USER_SUPPRESSED suppression: "suppressed profiles
  cannot receive email marketing, independent of their consent status" (consent unchanged).
- Unsuppress (`bulk_unsuppress_profiles`) "only removes suppressions with reason
  USER_SUPPRESSED; unsubscribed profiles and suppressed profiles with reason INVALID_EMAIL or
  HARD_BOUNCE remain unchanged" (consent unchanged too).
- `can_receive_email_marketing` is "True if [the] profile does not have any global
  suppressions" (EmailMarketing schema); SMS can receive when its consent is SUBSCRIBED.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from klaviyo_emulator.history import History

NEVER_SUBSCRIBED = "NEVER_SUBSCRIBED"
SUBSCRIBED = "SUBSCRIBED"
UNSUBSCRIBED = "UNSUBSCRIBED"
USER_SUPPRESSED = "USER_SUPPRESSED"
UNSUBSCRIBE = "UNSUBSCRIBE"
# What a subscribe lifts (spec: UNSUBSCRIBE, SPAM_REPORT, USER_SUPPRESSED).
LIFTED_BY_SUBSCRIBE = frozenset({UNSUBSCRIBE, "SPAM_COMPLAINT", "SPAM_REPORT", USER_SUPPRESSED})
EMAIL_MARKETING = "email.marketing"
SMS_MARKETING = "sms.marketing"


@dataclass(slots=True)
class ChannelConsent:
    consent: str = NEVER_SUBSCRIBED
    consent_timestamp: datetime | None = None
    last_updated: datetime | None = None
    method: str | None = None
    custom_method_detail: str | None = None
    double_optin: bool = False


@dataclass(frozen=True, slots=True)
class Suppression:
    reason: str
    timestamp: datetime


@dataclass(slots=True)
class ProfileConsent:
    # "email.marketing", "sms.marketing", "sms.transactional", "whatsapp.marketing", ...
    channels: dict[str, ChannelConsent] = field(default_factory=dict)
    suppressions: list[Suppression] = field(default_factory=list)  # global, email

    def channel(self, key: str) -> ChannelConsent:
        return self.channels.get(key) or ChannelConsent()

    @property
    def can_receive_email_marketing(self) -> bool:
        return not self.suppressions

    def suppressed_for(self, reason: str) -> bool:
        return any(s.reason == reason for s in self.suppressions)


class ConsentBook:
    """Consent per profile id; callers hold the store's lock and name the operation (`endpoint`)
    so each change lands in the history."""

    def __init__(self, history: History) -> None:
        self.history = history
        self.by_profile: dict[str, ProfileConsent] = {}

    def of(self, profile_id: str) -> ProfileConsent:
        return self.by_profile.get(profile_id) or ProfileConsent()

    def _own(self, profile_id: str) -> ProfileConsent:
        return self.by_profile.setdefault(profile_id, ProfileConsent())

    def subscribe(
        self,
        profile_id: str,
        channel: str,
        *,
        at: datetime,
        consented_at: datetime | None,
        custom_source: str | None,
        endpoint: str,
        identifiers: dict[str, Any],
        list_id: str | None = None,
        double_optin: bool = False,
    ) -> None:
        record = self._own(profile_id)
        record.channels[channel] = ChannelConsent(
            consent=SUBSCRIBED,
            consent_timestamp=consented_at or at,
            last_updated=at,
            method="API",
            custom_method_detail=custom_source,
            double_optin=double_optin,
        )
        if channel == EMAIL_MARKETING:
            record.suppressions = [
                s for s in record.suppressions if s.reason not in LIFTED_BY_SUBSCRIBE
            ]
        self.history.record(
            profile_id=profile_id,
            operation="subscribe",
            channel=channel,
            list_id=list_id,
            endpoint=endpoint,
            at=at,
            identifiers=identifiers,
        )

    def unsubscribe(
        self,
        profile_id: str,
        channel: str,
        *,
        at: datetime,
        endpoint: str,
        identifiers: dict[str, Any],
    ) -> None:
        """A global unsubscribe from `channel`."""
        record = self._own(profile_id)
        previous = record.channel(channel)
        record.channels[channel] = ChannelConsent(
            consent=UNSUBSCRIBED,
            consent_timestamp=at,
            last_updated=at,
            method="API",
            custom_method_detail=previous.custom_method_detail,
        )
        if channel == EMAIL_MARKETING and not record.suppressed_for(UNSUBSCRIBE):
            record.suppressions.append(Suppression(UNSUBSCRIBE, at))
        self.history.record(
            profile_id=profile_id,
            operation="unsubscribe",
            channel=channel,
            endpoint=endpoint,
            at=at,
            identifiers=identifiers,
        )

    def suppress(
        self, profile_id: str, *, at: datetime, endpoint: str, identifiers: dict[str, Any]
    ) -> bool:
        """Adds USER_SUPPRESSED; False when the profile already had it (nothing changed)."""
        record = self._own(profile_id)
        changed = not record.suppressed_for(USER_SUPPRESSED)
        if changed:
            record.suppressions.append(Suppression(USER_SUPPRESSED, at))
        self.history.record(
            profile_id=profile_id,
            operation="suppress",
            channel=EMAIL_MARKETING,
            endpoint=endpoint,
            at=at,
            identifiers=identifiers,
        )
        return changed

    def unsuppress(
        self, profile_id: str, *, at: datetime, endpoint: str, identifiers: dict[str, Any]
    ) -> bool:
        """Removes USER_SUPPRESSED only; False when the profile had none."""
        record = self._own(profile_id)
        kept = [s for s in record.suppressions if s.reason != USER_SUPPRESSED]
        changed = len(kept) != len(record.suppressions)
        record.suppressions = kept
        self.history.record(
            profile_id=profile_id,
            operation="unsuppress",
            channel=EMAIL_MARKETING,
            endpoint=endpoint,
            at=at,
            identifiers=identifiers,
        )
        return changed
