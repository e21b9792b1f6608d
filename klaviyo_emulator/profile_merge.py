"""How Klaviyo merges what a profile write sends into the stored profile."""

from typing import Any

MERGED_OBJECTS = ("location", "properties")


def merge_attributes(target: dict[str, Any], changes: dict[str, Any]) -> None:
    """Klaviyo's profile update: a given key replaces, null clears, an omitted key stays;
    `location` and `properties` merge key by key. In `properties` a null is a value: removing
    a custom property takes `meta.patch_properties.unset` (`properties_unset`)."""
    for key, value in changes.items():
        if value is None:
            target.pop(key, None)
        elif key in MERGED_OBJECTS and isinstance(value, dict):
            merged = dict(target.get(key) or {})
            if key == "location" and None in value.values():
                for sub_key, sub_value in value.items():
                    if sub_value is None:
                        merged.pop(sub_key, None)
                    else:
                        merged[sub_key] = sub_value
            else:
                merged.update(value)
            target[key] = merged
        else:
            target[key] = value


def unset_names(meta: Any) -> list[str]:
    """The custom properties `meta.patch_properties.unset` removes: a name or a list of them."""
    if not isinstance(meta, dict):
        return []
    unset = (meta.get("patch_properties") or {}).get("unset")
    if isinstance(unset, str):
        return [unset]
    return [name for name in unset or [] if isinstance(name, str)]
