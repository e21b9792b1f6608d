"""What every benchmark process shares: production-like settings on the benchmark's own database."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_setup(*, database_url: str, **overrides: str) -> None:
    """Points this process at `database_url` with DEBUG off and no Klaviyo key, then starts
    Django; `overrides` are further environment settings (broker, log level, ...)."""
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "KLAVIYO_API_KEY": "",
            "DEBUG": "false",
            "SECRET_KEY": "bench-secret-key",
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "klaviyo_backend.settings",
            **overrides,
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
