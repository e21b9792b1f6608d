"""The admin actions that send events and profiles to Klaviyo again, and the pages' Retry now
and Klaviyo payload (admin_pages.py), added to the events app's admin pages (events/admin.py
shows the rows and their sync status; sending is this app's job)."""

from itertools import islice

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from events import admin as events_admin
from events.models import Event, Profile, SyncStatus
from klaviyo_sync.admin_pages import EventPage, ProfilePage
from klaviyo_sync.services import events_retry_failed
from klaviyo_sync.tasks import queue_event_sync, sync_profile

# Failed events one "Retry sync" re-queues at most (run it again for more).
RETRY_CAP = 100_000


admin.site.unregister(Event)


@admin.register(Event)
class EventAdmin(EventPage, events_admin.EventAdmin):
    actions = ("retry_sync",)

    @admin.action(description="Retry sync of the selected failed events")
    def retry_sync(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        failed = queryset.filter(sync_status=SyncStatus.FAILED).values_list("id", flat=True)
        # Read first, then update: never change rows under an open cursor over them.
        ids_left = iter(list(failed.order_by()[:RETRY_CAP]))
        requeued = not_queued = 0
        while chunk := list(islice(ids_left, 1000)):
            ids = events_retry_failed(event_ids=chunk)
            requeued += len(ids)
            if not queue_event_sync(ids):
                not_queued += len(ids)
        if requeued:
            self.message_user(request, f"{requeued} failed events re-queued for Klaviyo.")
        else:
            self.message_user(request, "None of the selected events had failed.", messages.WARNING)
        if not_queued:
            self.message_user(
                request,
                f"{not_queued} could not be queued (broker down): they are pending and the "
                "sweeper will send them.",
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
