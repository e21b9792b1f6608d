"""Reading Klaviyo's JSON:API answers: resources by id, relationships, metric ids by name, and a
profile's attributes as our clients name them."""

from typing import Any

from klaviyo_client.names import KLAVIYO_STANDARD_ATTRIBUTES, camel


def resources_by_id(included: Any, resource_type: str) -> dict[str, dict[str, Any]]:
    """The client's `included`, either keyed by (type, id) or Klaviyo's raw list."""
    items = included.values() if isinstance(included, dict) else included or []
    return {item["id"]: item for item in items if item.get("type") == resource_type}


def related_id(resource: dict[str, Any], relation: str) -> str | None:
    data = ((resource.get("relationships") or {}).get(relation) or {}).get("data")
    return data.get("id") if isinstance(data, dict) else None


def metric_ids_by_name(metrics: list[dict[str, Any]]) -> dict[str, str]:
    """Klaviyo's metric ids by name, from GET /api/metrics (which can't filter by name). Two
    metrics may share a name (one per integration): the first listed wins."""
    ids: dict[str, str] = {}
    for metric in metrics:
        name = (metric.get("attributes") or {}).get("name")
        if name is not None and metric.get("id"):
            ids.setdefault(name, metric["id"])
    return ids


def profile_attributes_ours(resource: dict[str, Any]) -> dict[str, Any]:
    """A Klaviyo profile's attributes as our clients send them: standard ones camelCase, custom
    `properties` at the top level; the email (the answer's own key), empty values and
    Klaviyo's bookkeeping (created, updated, ...) left out."""
    source = resource.get("attributes") or {}
    attributes: dict[str, Any] = {
        key: value for key, value in (source.get("properties") or {}).items() if value is not None
    }
    for klaviyo_key in (*KLAVIYO_STANDARD_ATTRIBUTES, "location"):
        if klaviyo_key == "email":
            continue
        value = source.get(klaviyo_key)
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if v is not None} or None
        if value not in (None, ""):
            attributes[camel(klaviyo_key)] = value
    return attributes
