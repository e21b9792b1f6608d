"""The Content-Security-Policy of every answer (django-csp's CSPMiddleware sends it).

Scripts only from this service's own origin, none inline: the API docs (Swagger UI's set-up
script comes as a file of its own, SpectacularSwaggerSplitView; Redoc needs none), Django admin
and the staff console run no inline script. Styles may be inline: Swagger UI and Redoc set
style attributes and inject style elements as they render. Redoc parses the schema in a worker
it starts from a blob: URL. Nothing may frame the pages, as X-Frame-Options: DENY says too.

Where drf-spectacular loads the docs' assets from a CDN (its default, when the assets are not
served by this service through drf-spectacular-sidecar), that origin is allowed for them.
"""

from typing import Any
from urllib.parse import urlsplit

from csp.constants import NONE, SELF, UNSAFE_INLINE

# drf-spectacular's settings that say where the docs' assets come from, and its defaults for
# them (drf_spectacular/settings.py; not imported: it reads Django's settings, not loaded yet).
DOCS_ASSET_DEFAULTS = {
    "SWAGGER_UI_DIST": "https://cdn.jsdelivr.net/npm/swagger-ui-dist@latest",
    "SWAGGER_UI_FAVICON_HREF": "https://cdn.jsdelivr.net/npm/swagger-ui-dist@latest/favicon-32x32.png",
    "REDOC_DIST": "https://cdn.jsdelivr.net/npm/redoc@latest",
}


def docs_asset_origins(spectacular_settings: dict[str, Any]) -> list[str]:
    """The origins the docs load scripts, styles and icons from besides this service."""
    origins: list[str] = []
    for name, default in DOCS_ASSET_DEFAULTS.items():
        location = urlsplit(str(spectacular_settings.get(name, default)))
        origin = f"{location.scheme}://{location.netloc}"
        if location.scheme in ("http", "https") and origin not in origins:
            origins.append(origin)
    return origins


def content_security_policy(spectacular_settings: dict[str, Any]) -> dict[str, Any]:
    """django-csp's CONTENT_SECURITY_POLICY setting."""
    docs = docs_asset_origins(spectacular_settings)
    return {
        "DIRECTIVES": {
            "default-src": [SELF],
            "script-src": [SELF, *docs],
            "style-src": [SELF, UNSAFE_INLINE, *docs],
            "img-src": [SELF, "data:", *docs],
            "font-src": [SELF, "data:"],
            "connect-src": [SELF],
            "worker-src": [SELF, "blob:"],
            "object-src": [NONE],
            "base-uri": [SELF],
            "form-action": [SELF],
            "frame-ancestors": [NONE],
        }
    }
