"""The staff console's pages: the sync-health dashboard (admin, staff only), its buttons, and
the home page at `/`. Thin: figures come from services/selectors, the page from templates."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.admin import site
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from console.charts import Series, bar_chart, duration, line_chart
from console.models import SyncHealthSnapshot
from console.selectors import klaviyo_state, purge_state
from console.services import events_retry_reason, sync_health_current, sync_health_refresh
from events.failures import FAILURE_STATUSES
from events.models import SyncStatus
from klaviyo_sync.passthrough import klaviyo_connection_check

DASHBOARD = "console:dashboard"
TREND_WINDOW = timedelta(hours=1)


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def backlog_series(*, hours: list[datetime], now: datetime) -> tuple[list[int | None], ...]:
    """Pending and failed counts at the end of each hour of the day, from the snapshots."""
    samples = SyncHealthSnapshot.objects.filter(taken_at__gte=hours[0]).order_by("taken_at")
    pending: list[int | None] = [None] * len(hours)
    failed: list[int | None] = [None] * len(hours)
    for taken_at, pending_count, failed_count in samples.values_list(
        "taken_at", "pending", "failed"
    ):
        index = int((taken_at - hours[0]).total_seconds() // 3600)
        if 0 <= index < len(hours):  # the last sample of each hour wins
            pending[index], failed[index] = pending_count, failed_count
    return pending, failed


def backlog_trend(*, snapshot: SyncHealthSnapshot) -> dict[str, Any] | None:
    """How the pending count moved since about an hour before this snapshot."""
    earlier = (
        SyncHealthSnapshot.objects.filter(taken_at__lte=snapshot.taken_at - TREND_WINDOW)
        .order_by("-taken_at")
        .values("taken_at", "pending")
        .first()
    )
    if earlier is None:
        return None
    change = snapshot.pending - earlier["pending"]
    direction = "growing" if change > 0 else "shrinking" if change < 0 else "steady"
    return {"change": change, "direction": direction, "since": earlier["taken_at"]}


def dashboard_context(*, snapshot: SyncHealthSnapshot, now: datetime) -> dict[str, Any]:
    figures = snapshot.figures
    hours = [_moment(text) for text in figures["hours"]]
    labels = [f"{hour:%H}:00" for hour in hours]
    pending, failed = backlog_series(hours=hours, now=now)
    oldest_pending = _moment(figures["oldest_pending_at"])
    events_list = reverse("admin:events_event_changelist")
    failures = [
        {
            **group,
            "label": SyncStatus(group["status"]).name.lower(),
            "url": f"{events_list}?sync_status__exact={group['status']}&reason={group['key']}",
        }
        for group in figures["failures"]
    ]
    problem = figures.get("last_problem")
    return {
        "snapshot": snapshot,
        "snapshot_age": (now - snapshot.taken_at).total_seconds(),
        "refresh_seconds": settings.DASHBOARD_REFRESH_SECONDS,
        "events": figures["events"],
        "events_total": sum(figures["events"].values()),
        "profiles": figures["profiles"],
        # Figures stored before consent changes existed have none: zeros until the next refresh.
        "consent_changes": figures.get("consent_changes") or {},
        "consent_list": reverse("admin:events_consentchange_changelist"),
        "retrying": figures["retrying"],
        "oldest_pending_at": oldest_pending,
        "oldest_pending_age": (now - oldest_pending).total_seconds() if oldest_pending else None,
        "trend": backlog_trend(snapshot=snapshot),
        "received_day": sum(figures["received"]),
        "delivered_day": sum(figures["delivered"]),
        "delay_p50": figures["delay_p50_day"],
        "delay_p95": figures["delay_p95_day"],
        "last_sent_at": _moment(figures["last_sent_at"]),
        "last_problem": problem and {**problem, "at": _moment(problem["at"])},
        "failures": failures,
        "events_list": events_list,
        "charts": {
            "traffic": bar_chart(
                chart_id="traffic",
                title="Events received and delivered to Klaviyo per hour, last 24 hours (UTC)",
                labels=labels,
                series=[
                    Series("Received", figures["received"], "series-a"),
                    Series("Delivered", figures["delivered"], "series-b"),
                ],
            ),
            "delay": line_chart(
                chart_id="delay",
                title="Delivery delay, received to sent, per hour (p50 and p95)",
                labels=labels,
                series=[
                    Series("p50", figures["delay_p50"], "series-b"),
                    Series("p95", figures["delay_p95"], "series-c"),
                ],
                fmt=duration,
            ),
            "backlog": line_chart(
                chart_id="backlog",
                title="Backlog: pending and failed events at the end of each hour",
                labels=labels,
                series=[
                    Series("Pending", pending, "series-a"),
                    Series("Failed", failed, "series-c"),
                ],
            ),
        },
        "klaviyo": klaviyo_state(),
        "purge": purge_state(now=now),
    }


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def dashboard(request: HttpRequest) -> HttpResponse:
    _require(request, "events.view_event")
    now = timezone.now()
    context = {
        **site.each_context(request),
        "title": "Sync health",
        **dashboard_context(snapshot=sync_health_current(), now=now),
    }
    return render(request, "console/dashboard.html", context)


@require_POST
def dashboard_refresh(request: HttpRequest) -> HttpResponse:
    _require(request, "events.view_event")
    snapshot = sync_health_refresh()
    messages.info(request, f"Figures refreshed ({snapshot.compute_ms:,.0f} ms).")
    return HttpResponseRedirect(reverse(DASHBOARD))


@require_POST
def retry_reason(request: HttpRequest) -> HttpResponse:
    """ "Retry these": sends again the failed (or skipped) events of one reason."""
    _require(request, "events.change_event")
    status = request.POST.get("status", "")
    key = request.POST.get("reason", "")
    if status not in FAILURE_STATUSES or not key:
        messages.error(request, "Nothing to retry: unknown status or reason.")
        return HttpResponseRedirect(reverse(DASHBOARD))
    result = events_retry_reason(status=status, key=key)
    if result.requeued:
        messages.success(request, f"{result.requeued:,} {status} events queued for Klaviyo again.")
    else:
        messages.warning(request, f"No {status} events left for that reason.")
    if result.not_queued:
        messages.warning(
            request,
            f"{result.not_queued:,} could not be queued (broker down): they are pending and the "
            "sweeper will send them.",
        )
    sync_health_refresh()
    return HttpResponseRedirect(reverse(DASHBOARD))


@require_POST
def connection_test(request: HttpRequest) -> HttpResponse:
    """Asks Klaviyo whether it takes our key (GET /api/accounts, 1/s and 15/min)."""
    _require(request, "events.view_event")
    check = klaviyo_connection_check()
    latency = f" in {check.latency_ms:,.0f} ms" if check.latency_ms is not None else ""
    level = messages.SUCCESS if check.connected else messages.ERROR
    messages.add_message(request, level, f"{check.message}{latency}.")
    return HttpResponseRedirect(reverse(DASHBOARD))


def home(request: HttpRequest) -> HttpResponse:
    """`/`: what this service is and where to go (API docs, staff console, health)."""
    return render(request, "console/home.html", {"debug": settings.DEBUG})
