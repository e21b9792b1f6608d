"""The HTTP server's own limits on a request's head, which it answers itself (414, 431): set in
klaviyo_backend/gunicorn_config.py, stated in the OpenAPI document (core/schema_hooks.py) and
the README. Plain constants: gunicorn's master reads them without Django."""

LIMIT_REQUEST_LINE = 8190  # the longest request line (method, path and query); else 414
LIMIT_REQUEST_FIELDS = 100  # header fields per request; else 431
LIMIT_REQUEST_FIELD_SIZE = 8190  # bytes of one header field; else 431
