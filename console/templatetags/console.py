from typing import Any

from django import template
from django.utils import timezone

from console.charts import duration as duration_text

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    """850 ms, 12 s, 4.5 min, 2.1 h, 3.0 d; a dash when unknown."""
    return "\N{EN DASH}" if seconds is None else duration_text(seconds)


@register.filter
def age(moment: Any) -> str:
    """How long ago: `4.5 min`."""
    if not moment:
        return "\N{EN DASH}"
    return duration_text(max(0.0, (timezone.now() - moment).total_seconds()))


@register.filter
def percent(share: float) -> str:
    return f"{share * 100:.0f}%"


@register.filter
def per_text(seconds: float) -> str:
    return {1.0: "s", 60.0: "min", 3600.0: "h"}.get(seconds, f"{seconds:g} s")


@register.inclusion_tag("console/index_summary.html", takes_context=True)
def sync_health_summary(context: template.Context) -> dict[str, Any]:
    """The admin index's first panel: counts from the dashboard's newest figures."""
    from console.services import sync_health_current

    request = context.get("request")
    if request is None or not request.user.has_perm("events.view_event"):
        return {"visible": False}
    snapshot = sync_health_current()
    figures = snapshot.figures
    oldest = figures.get("oldest_pending_at")
    return {
        "visible": True,
        "snapshot": snapshot,
        "events": figures["events"],
        "oldest_pending_at": timezone.datetime.fromisoformat(oldest) if oldest else None,
        "failure_groups": len(figures["failures"]),
    }
