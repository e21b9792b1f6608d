"""The admin actions that send events, profiles and consent changes to Klaviyo again, and the
pages' Retry now and Klaviyo payload (admin_pages.py), added to the events app's admin pages
(events/admin.py and consent_admin.py show the rows and their sync status; sending is this
app's job)."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from events import admin as events_admin
from events import consent_admin as events_consent_admin
from events.models import ConsentChange, ConsentStatus, Event, Profile
from klaviyo_sync import erasure_admin  # noqa: F401  (registers the erasure requests' page)
from klaviyo_sync.admin_pages import EventPage, ProfilePage
from klaviyo_sync.consent_order import consent_change_retry
from klaviyo_sync.resync import RESYNC_STATUSES
from klaviyo_sync.tasks import events_retry_and_queue, queue_consent_changes, sync_profile

# Events one "Send again" takes at most (run it again for more; manage.py resync has no cap).
RESYNC_CAP = 100_000
# Failed consent changes one "Retry" takes at most, each checked against the later ones.
RETRY_CAP = 1000


admin.site.unregister(Event)


@admin.register(Event)
class EventAdmin(EventPage, events_admin.EventAdmin):
    actions = ("resync",)

    @admin.action(description="Send the selected events to Klaviyo again (skipped, failed, sent)")
    def resync(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        """What `manage.py resync` does, for the chosen rows; pending ones are on their way
        already. Safe to repeat: each event keeps its unique_id, which Klaviyo dedupes on."""
        chosen = queryset.filter(sync_status__in=RESYNC_STATUSES).values_list("id", flat=True)
        # Read first, then update: never change rows under an open cursor over them.
        outcome = events_retry_and_queue(
            list(chosen.order_by()[:RESYNC_CAP]), statuses=RESYNC_STATUSES
        )
        if outcome.requeued:
            self.message_user(request, f"{outcome.requeued} events queued for Klaviyo again.")
        else:
            self.message_user(
                request,
                "None of the selected events was skipped, failed or sent (pending ones are "
                "on their way).",
                messages.WARNING,
            )
        if outcome.not_queued:
            self.message_user(
                request,
                f"{outcome.not_queued} could not be queued (broker down): they are pending and "
                "the sweeper will send them.",
                messages.WARNING,
            )


admin.site.unregister(Profile)


@admin.register(Profile)
class ProfileAdmin(ProfilePage, events_admin.ProfileAdmin):
    actions = ("sync_now",)

    @admin.action(description="Send the selected profiles to Klaviyo now")
    def sync_now(self, request: HttpRequest, queryset: QuerySet[Profile]) -> None:
        queued = 0
        for profile_id in queryset.values_list("id", flat=True)[:1000]:
            try:
                sync_profile.delay(profile_id)
            except Exception as error:  # broker down: say so, don't fail the page
                self.message_user(request, f"Could not queue: {error}", messages.ERROR)
                break
            queued += 1
        self.message_user(request, f"{queued} profiles queued for Klaviyo (at most 1,000).")


@admin.register(ConsentChange)
class ConsentChangeAdmin(events_consent_admin.ConsentChangeAdmin):
    actions = ("retry",)

    @admin.action(description="Retry the selected failed consent changes")
    def retry(self, request: HttpRequest, queryset: QuerySet[ConsentChange]) -> None:
        """Back to pending and queued, oldest first, unless a later change for one of the
        same addresses already went to Klaviyo (klaviyo_sync/consent_order.py says why)."""
        chosen = list(
            queryset.filter(status=ConsentStatus.FAILED)
            .order_by("id")
            .values_list("id", flat=True)[:RETRY_CAP]
        )
        retried: list[int] = []
        for change_id in chosen:
            refusal = consent_change_retry(change_id=change_id)
            if refusal is None:
                retried.append(change_id)
            else:
                self.message_user(
                    request, f"#{change_id} not retried: {refusal}.", messages.WARNING
                )
        queue_consent_changes(retried)
        if retried:
            self.message_user(request, f"{len(retried)} consent changes queued for Klaviyo again.")
        elif not chosen:
            self.message_user(
                request, "None of the selected consent changes failed.", messages.WARNING
            )
