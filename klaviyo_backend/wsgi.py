"""WSGI entry point (gunicorn klaviyo_backend.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "klaviyo_backend.settings")

application = get_wsgi_application()
