"""WSGI entry point (gunicorn klaviyo_backend.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "klaviyo_backend.settings")
django_application = get_wsgi_application()

from core.request_body import RequestBodyDeadline  # noqa: E402 - needs the apps loaded

# Bodies are read in full, within REQUEST_BODY_TIMEOUT_SECONDS, before Django sees a request.
application = RequestBodyDeadline(django_application)
