"""The event and profile pages' sync part: a "Retry now" button on failed and skipped rows and
the exact JSON the sync sends to Klaviyo for the row (klaviyo_sync/payloads.py), for
debugging. Mixed into the admin classes of klaviyo_sync/admin.py."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from events.models import Event, Profile, SyncStatus
from klaviyo_sync.payloads import Payload, event_payload, profile_payload
from klaviyo_sync.tasks import events_retry_and_queue, queue_profile_sync

# Rows staff can send again from their page; pending ones are on their way already.
RETRY_STATUSES = (SyncStatus.FAILED, SyncStatus.SKIPPED)


class SyncPage:
    """A read-only change page with the row's Klaviyo payload and, on failed and skipped rows,
    a Retry now button (POST <id>/retry/, needs the model's change permission)."""

    change_form_template = "admin/klaviyo_sync/sync_change_form.html"

    # Events only: a batch this big goes as a bulk job (the page says so).
    bulk_min_events: int | None = None

    def payload(self, obj: Any) -> Payload:
        raise NotImplementedError

    def retry(self, request: HttpRequest, obj: Any) -> None:
        raise NotImplementedError

    def _may_retry(self, request: HttpRequest) -> bool:
        opts = self.opts  # type: ignore[attr-defined]
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    def _url(self, name: str, obj: Model) -> str:
        opts = self.opts  # type: ignore[attr-defined]
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_{name}", args=[obj.pk])

    def get_urls(self) -> list[URLPattern]:
        opts = self.opts  # type: ignore[attr-defined]
        retry = self.admin_site.admin_view(require_POST(self.retry_view))  # type: ignore[attr-defined]
        return [
            path(
                "<path:object_id>/retry/",
                retry,
                name=f"{opts.app_label}_{opts.model_name}_retry",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        extra: dict[str, Any] = {}
        if obj is not None:
            extra = {
                "klaviyo_payload": self.payload(obj),
                "sync_status": obj.sync_status,
                "can_retry": obj.sync_status in RETRY_STATUSES and self._may_retry(request),
                "retry_url": self._url("retry", obj),
                "bulk_min_events": self.bulk_min_events,
            }
        context = {**extra, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)  # type: ignore[misc]

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self._may_retry(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        if obj is None:
            raise Http404
        if obj.sync_status not in RETRY_STATUSES:
            messages.warning(
                request, f"Not retried: it is {obj.sync_status}, not failed or skipped."
            )
        else:
            self.retry(request, obj)
        return HttpResponseRedirect(self._url("change", obj))


class EventPage(SyncPage):
    @property
    def bulk_min_events(self) -> int:  # type: ignore[override]
        return settings.KLAVIYO_BULK_MIN_EVENTS

    def payload(self, obj: Event) -> Payload:
        return event_payload(event_id=obj.pk)

    def retry(self, request: HttpRequest, obj: Event) -> None:
        outcome = events_retry_and_queue([obj.pk], statuses=RETRY_STATUSES)
        if outcome.not_queued:
            messages.warning(
                request,
                "Pending again, but the broker could not take it: the sweeper will send it.",
            )
        elif outcome.requeued:
            messages.success(request, "Queued for Klaviyo: this page shows the outcome.")
        else:
            messages.warning(request, "Not retried: its status changed meanwhile.")


class ProfilePage(SyncPage):
    def payload(self, obj: Profile) -> Payload:
        return profile_payload(profile_id=obj.pk)

    def retry(self, request: HttpRequest, obj: Profile) -> None:
        if queue_profile_sync(obj.pk):
            messages.success(request, "Queued for Klaviyo: this page shows the outcome.")
        else:
            messages.error(request, "The broker could not take it: try again in a moment.")
