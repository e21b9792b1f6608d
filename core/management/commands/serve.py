"""`manage.py serve`: create or update the schema, then serve on PORT with gunicorn.

With a broker configured (CELERY_BROKER_URL), gunicorn alone: the worker and beat run apart
(docker-compose.yml, the README). Without one, the whole product from one command: gunicorn,
a Celery worker and Celery beat over the embedded broker (a folder beside the SQLite database),
under one supervisor that prefixes each line with its process's name and stops them all on
Ctrl-C or SIGTERM.
"""

import os
import shutil
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from core.embedded_broker import folders_prepare
from core.metrics import metrics_multiprocess_dir_prepare
from core.supervisor import Supervisor


class Command(BaseCommand):
    help = (
        "Applies migrations, then serves the API with gunicorn on PORT (default 3000); without "
        "CELERY_BROKER_URL also a Celery worker and beat on the embedded broker."
    )

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
        parser.add_argument(
            "--worker-concurrency",
            type=int,
            default=1,
            # One: the Klaviyo rate limiter is per process without Redis, so one sender keeps
            # every call under Klaviyo's limits.
            help="Celery pool processes of the embedded worker (default 1)",
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
        web = self.gunicorn_argv(options)
        address = f"http://{options['bind']}:{options['port']}"
        if not settings.EMBEDDED_BROKER:
            self.stdout.write(f"Serving on {address} (docs at /api)")
            sys.stdout.flush()
            # Replace this process: gunicorn owns signals and worker management from here on.
            os.execv(web[0], web)
        folder = settings.EMBEDDED_BROKER_DIR
        folders_prepare(folder)
        supervisor = Supervisor(
            {
                "web": web,
                "worker": self.celery_argv(
                    "worker",
                    "--pool",
                    "prefork",
                    "--concurrency",
                    str(options["worker_concurrency"]),
                    # One name per instance (its port): heartbeats of side-by-side instances
                    # don't mix. Mingle and gossip would broadcast to no other worker.
                    "--hostname",
                    f"embedded-{options['port']}@%h",
                    "--without-mingle",
                    "--without-gossip",
                    "--without-heartbeat",
                ),
                # Its pid file beside the queue: one beat per instance, not per checkout.
                "beat": self.celery_argv("beat", "--pidfile", str(folder / "beat.pid")),
            }
        )
        supervisor.say(
            f"web on {address} (docs at /api), a Celery worker and beat on the embedded broker "
            f"in {folder}; Ctrl-C stops them all"
        )
        sys.exit(supervisor.run())

    @staticmethod
    def gunicorn_argv(options: dict[str, Any]) -> list[str]:
        gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
        # No gunicorn access log: the app writes one JSON line per request (core.middleware).
        return [
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
            # The project's gthread: a kept-alive connection's next request served without a
            # trip through the worker's main thread (issue 14), and a connection accepted only
            # by a worker with a thread free, so slow clients spread over the workers.
            "--worker-class",
            "klaviyo_backend.gunicorn_worker.KeepAliveThreadWorker",
            "--threads",
            str(options["threads"]),
            # gunicorn's own error answers (400, 414, 431, ...) in the JSON error shape.
            "--config",
            "python:klaviyo_backend.gunicorn_config",
            # Its control socket would be one fixed path (~/.gunicorn) for every instance.
            "--no-control-socket",
        ]

    @staticmethod
    def celery_argv(command: str, *extra: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "klaviyo_backend",
            command,
            "--loglevel",
            settings.LOG_LEVEL,
            *extra,
        ]
