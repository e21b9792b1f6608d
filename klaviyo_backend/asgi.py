"""ASGI entry point, Django's standard one. Not what `manage.py serve` runs (gunicorn's gthread
workers with WSGI, see core/management/commands/serve.py); bench/slow_clients.py compares it."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "klaviyo_backend.settings")
application = get_asgi_application()
