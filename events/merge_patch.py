"""JSON merge patches (RFC 7396), as a profile's attributes take them: the local merge, and
several patches folded into one for the sync to send. Pure functions, no database."""

from typing import Any


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396, as the database applies it: objects merge, null removes a key."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


def json_patches_combine(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """One merge patch that does what `first` then `second` do; its nulls are kept, as they
    delete keys. (Exact but for an object replacing a non-object, which RFC 7396 can't say.)"""
    result = dict(first)
    for key, value in second.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = json_patches_combine(result[key], value)
        else:
            result[key] = value
    return result


def holds_null(patch: dict[str, Any]) -> bool:
    """Whether the patch clears anything: a null at any depth of its objects."""
    values = patch.values()
    if None in values:
        return True
    for value in values:  # noqa: SIM110 - per profile sent: any() over a generator is slower
        if isinstance(value, dict) and holds_null(value):
            return True
    return False
