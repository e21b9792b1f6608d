"""`manage.py serve`: create or update the schema, then serve on PORT with gunicorn."""

import os
import shutil
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from core.metrics import metrics_multiprocess_dir_prepare


class Command(BaseCommand):
    help = "Applies migrations, then serves the API with gunicorn on PORT (default 3000)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--bind", default=os.environ.get("BIND_HOST", "0.0.0.0"))
        parser.add_argument(
            "--workers",
            type=int,
            default=settings.WEB_CONCURRENCY,
            help="gunicorn worker processes (env WEB_CONCURRENCY)",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=settings.WEB_THREADS,
            help="threads per worker (env WEB_THREADS)",
        )
        parser.add_argument("--no-migrate", action="store_true", help="skip `migrate`")
        parser.add_argument(
            "--app",
            default="klaviyo_backend.wsgi",
            help="WSGI application to serve (bench/single.py serves its floor on these settings)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=1)
        # Workers count requests into files there, so /metrics adds up every worker's counts.
        metrics_multiprocess_dir_prepare()
        gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
        # No gunicorn access log: the app writes one JSON line per request (core.middleware).
        argv = [
            gunicorn,
            options["app"],
            "--bind",
            f"{options['bind']}:{options['port']}",
            "--workers",
            str(options["workers"]),
            "--graceful-timeout",
            "30",
            # Slow clients (issue 13): gthread hands each request a thread of its worker, not
            # the whole worker as sync workers do, so a client that sends its body slowly holds
            # one of --threads threads (and only until REQUEST_BODY_TIMEOUT_SECONDS, see
            # core.request_body). Two sync workers froze under two such clients; this serves
            # /health and POST /events in milliseconds beside 50 (bench/slow_clients.py).
            "--worker-class",
            "gthread",
            "--threads",
            str(options["threads"]),
            # gunicorn's own error answers (400, 414, 431, ...) in the JSON error shape.
            "--config",
            "python:klaviyo_backend.gunicorn_config",
        ]
        self.stdout.write(f"Serving on http://{options['bind']}:{options['port']} (docs at /api)")
        sys.stdout.flush()
        # Replace this process: gunicorn owns signals and worker management from here on.
        os.execv(argv[0], argv)
