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


class ReplacedObject(dict):
    """An object that replaces a key's value where patches folded into one had first removed
    the key or set a non-object: `{"a": null}` then `{"a": {"x": 1}}` leave `a` as `{"x": 1}`
    whatever it held, which the plain patch `{"a": {"x": 1}}` would merge into instead (RFC
    7396 can't say "replace" in one patch). Only in memory: the local merge applies such
    patches one after another (events.profile_services.profiles_upsert), the sync sends the
    key as it now stands (klaviyo_client.profiles, which reads the mark, not this class)."""

    replaces = True


def json_patches_combine(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """One merge patch that does what `first` then `second` do; its nulls are kept, as they
    delete keys, and an object that replaces a removed key or a non-object is a
    ReplacedObject (exact in memory; see replaces())."""
    result = dict(first)
    for key, value in second.items():
        if not isinstance(value, dict):
            result[key] = value
            continue
        before = result.get(key)
        if isinstance(before, dict):
            combined = json_patches_combine(before, value)
            result[key] = (
                ReplacedObject(combined) if isinstance(before, ReplacedObject) else combined
            )
        elif key in result:  # removed or set to a non-object first: the object replaces it
            result[key] = ReplacedObject(value)
        else:
            result[key] = value
    return result


def replaces(patch: dict[str, Any]) -> bool:
    """Whether a combined patch holds a ReplacedObject at any depth (it is not a plain RFC
    7396 patch: applied at once, it would merge where the patches it folds replace)."""
    for value in patch.values():
        if isinstance(value, dict) and (isinstance(value, ReplacedObject) or replaces(value)):
            return True
    return False


def holds_null(patch: dict[str, Any]) -> bool:
    """Whether the patch clears anything: a null at any depth of its objects."""
    values = patch.values()
    if None in values:
        return True
    for value in values:  # noqa: SIM110 - per profile sent: any() over a generator is slower
        if isinstance(value, dict) and holds_null(value):
            return True
    return False
