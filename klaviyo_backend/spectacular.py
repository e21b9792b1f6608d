"""drf-spectacular's settings: the OpenAPI document's title, description and security scheme.
Static (no environment knob), so apart from settings.py, which reads the environment."""

SPECTACULAR_SETTINGS = {
    "TITLE": "klaviyo-backend",
    "DESCRIPTION": (
        "Accepts customer events and profiles, stores them, forwards them to Klaviyo reliably, "
        "answers questions about them and deletes what is older than the retention period. "
        "Every endpoint but the docs and /health needs the `X-API-Key` header."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "APPEND_COMPONENTS": {
        "securitySchemes": {"ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
    },
    "SECURITY": [{"ApiKeyAuth": []}],
    "ENUM_NAME_OVERRIDES": {"SyncStatusEnum": "events.models.SyncStatus"},
    # Enums (currencies, time zones) are their own documentation: no "* `USD` - USD" list.
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    # What every operation must say, derived from the code (core/schema_hooks.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.schema_hooks.strict_bodies",
        "core.schema_hooks.server_errors",
        "core.schema_hooks.email_path_parameters",
        "core.schema_hooks.links",
        "core.schema_hooks.security_once",
    ],
    # Swagger UI and Redoc from this service's static files (drf-spectacular-sidecar), not a
    # CDN: the docs render with no internet, and the version is the pinned one.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
