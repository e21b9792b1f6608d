"""What the Klaviyo-first reads write: the ids and profile attributes Klaviyo told them, so that
later reads (and the local answers) know them. Called from klaviyo_sync/answers.py in the
request's thread, after Klaviyo answered."""

import logging
from typing import Any

from django.db import connection
from django.utils import timezone

from events.merge_patch import json_merge_patch
from events.models import Metric, Profile, SyncStatus

logger = logging.getLogger(__name__)


def metric_ids_store(*, ids_by_name: dict[str, str]) -> None:
    """Caches Klaviyo's metric ids in the Metric table; writes only new or changed ones."""
    known = dict(
        Metric.objects.filter(name__in=list(ids_by_name)).values_list("name", "klaviyo_id")
    )
    longest = Metric._meta.get_field("name").max_length
    changed = [
        Metric(name=name, klaviyo_id=metric_id)
        for name, metric_id in sorted(ids_by_name.items())
        if known.get(name, "") != metric_id and len(name) <= longest
    ]
    if not changed:
        return
    # Upsert on the unique name: concurrent reads storing the same map don't collide.
    conflict_target = {} if connection.vendor == "mysql" else {"unique_fields": ["name"]}
    Metric.objects.bulk_create(
        changed,
        update_conflicts=True,
        update_fields=["klaviyo_id", "updated_at"],
        **conflict_target,
    )


def profile_klaviyo_ids_store(*, ids_by_email: dict[str, str]) -> None:
    """Records Klaviyo's profile ids on the local profiles that lack them."""
    profiles = list(
        Profile.objects.filter(email__in=list(ids_by_email), klaviyo_id__isnull=True).only(
            "id", "email"
        )
    )
    for profile in profiles:
        profile.klaviyo_id = ids_by_email[profile.email]
    Profile.objects.bulk_update(profiles, ["klaviyo_id"], batch_size=500)


def profile_klaviyo_store(
    *, profile: Profile | None, klaviyo_id: str, attributes: dict[str, Any] | None = None
) -> None:
    """Records Klaviyo's id for the profile and merges in attributes changed in Klaviyo.

    Attributes only when the local profile has nothing pending for Klaviyo (else ours are the
    newer ones) and hasn't changed since it was read (updated_at guards the write).
    """
    if profile is None:
        return
    changes: dict[str, Any] = {}
    if profile.klaviyo_id != klaviyo_id:
        changes["klaviyo_id"] = klaviyo_id
    if attributes is not None and profile.sync_status != SyncStatus.PENDING:
        merged = json_merge_patch(profile.attributes, attributes)
        if merged != profile.attributes:
            changes["attributes"] = merged
    if not changes:
        return
    rows = Profile.objects.filter(pk=profile.pk, updated_at=profile.updated_at)
    if "attributes" in changes:
        rows = rows.exclude(sync_status=SyncStatus.PENDING)
        # Only attributes move updated_at: the sync marks a profile sent only if it hasn't
        # changed since read, and Klaviyo's id alone would leave it pending for good.
        changes["updated_at"] = timezone.now()
    updated = rows.update(**changes)
    if updated:
        logger.info("Profile %s updated from Klaviyo: %s", profile.pk, sorted(changes))
