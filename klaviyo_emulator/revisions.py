"""The API revisions Klaviyo serves, and what differs between them that the emulator keeps.

Klaviyo supports each GA revision for two years after its release (one stable, one deprecated),
then retires it (NOTES.md §7: developers.klaviyo.com/en/v2026-07-15/docs, "Each revision is
supported for 2 years after its release"; community.klaviyo.com/articles/619). Betas carry a
`.pre` suffix. A well-formed date that is no release (`2099-01-01`, `2026-07-16`) or a retired
one is refused with a 400, as a revision Klaviyo does not serve: a client pinned to a typo
would otherwise look fine here and fail against Klaviyo.
"""

from datetime import date

# GA releases (developers.klaviyo.com API changelog; klaviyo-api SDK releases, NOTES.md §7).
RELEASES = tuple(
    date.fromisoformat(day)
    for day in (
        "2024-02-15",
        "2024-05-15",
        "2024-06-15",
        "2024-07-15",
        "2024-10-15",
        "2025-01-15",
        "2025-04-15",
        "2025-07-15",
        "2025-10-15",
        "2026-01-15",
        "2026-04-15",
        "2026-07-15",
        "2026-10-15",
    )
)
SUPPORT_YEARS = 2
BETA_SUFFIX = ".pre"
# From this revision the `meta` of an event's profile sits beside its `attributes`
# (profile.data.meta), as in profile-import; before, inside them (profile.data.attributes.meta).
# [spec 2026-07-15 EventProfileCreateQueryResourceObject; SDK 25.0.0 models, NOTES.md §4]
EVENT_PROFILE_META_BESIDE_ATTRIBUTES = date(2026, 10, 15)


def _retired(release: date, today: date) -> bool:
    try:
        return today >= release.replace(year=release.year + SUPPORT_YEARS)
    except ValueError:  # a 29 February
        return today >= date(release.year + SUPPORT_YEARS, 3, 1)


def served(today: date) -> list[str]:
    return [day.isoformat() for day in RELEASES if day <= today and not _retired(day, today)]


def revision_problem(revision: str, *, today: date) -> str | None:
    """Why Klaviyo would refuse this revision header, or None when it serves it."""
    day_text = revision.removesuffix(BETA_SUFFIX)
    if day_text in served(today):
        return None
    return (
        f"Revision {revision!r} is not served: use one of {', '.join(served(today))} "
        f"(optionally with {BETA_SUFFIX})."
    )


def revision_date(revision: str) -> date:
    return date.fromisoformat(revision.removesuffix(BETA_SUFFIX)[:10])


def event_profile_meta_beside_attributes(revision: str) -> bool:
    return revision_date(revision) >= EVENT_PROFILE_META_BESIDE_ATTRIBUTES
