"""The floor of bench/single.py: a bare WSGI app that does only what storing one event must cost.

Parse the JSON body, upsert the profile (the service's INSERT ... ON DUPLICATE KEY UPDATE, with
`id = LAST_INSERT_ID(id)` so the id comes back without a read), insert the event row, commit, and
publish one message on the broker; answer 201 with the event as JSON. No framework, no checks, no
logging: the service can't go below this on the same gunicorn settings, database and broker.

Served by `manage.py serve --app bench.single_floor:application`, so that it runs on exactly the
service's gunicorn settings; reads DATABASE_URL and CELERY_BROKER_URL like the service.
"""

import json
import os
import threading
import urllib.parse
import uuid
from datetime import UTC, datetime
from typing import Any

import MySQLdb
import redis

# A list of its own on the broker's database; bench/single.py deletes it at the end.
FLOOR_QUEUE = "bench-single-floor"

PROFILE_UPSERT = (
    "INSERT INTO events_profile (identity, email, phone_number, external_id, attributes, "
    "sync_status, last_error, created_at, updated_at, next_attempt_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id), "
    "attributes = JSON_MERGE_PATCH(attributes, VALUES(attributes)), "
    "email = COALESCE(VALUES(email), email), "
    "phone_number = COALESCE(VALUES(phone_number), phone_number), "
    "external_id = COALESCE(VALUES(external_id), external_id), "
    "sync_status = VALUES(sync_status), updated_at = VALUES(updated_at)"
)
EVENT_INSERT = (
    "INSERT INTO events_event (id, event_name, email, profile_id, event_attributes, "
    "profile_attributes, time, value, unique_id, sync_status, attempts, last_error, "
    "failure_reason, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)

_local = threading.local()  # one database connection per worker thread


def _database() -> Any:
    if getattr(_local, "db", None) is None:
        url = urllib.parse.urlparse(os.environ["DATABASE_URL"])
        _local.db = MySQLdb.connect(
            host=url.hostname or "127.0.0.1",
            port=url.port or 3306,
            user=urllib.parse.unquote(url.username or "root"),
            password=urllib.parse.unquote(url.password or ""),
            database=url.path.lstrip("/"),
            charset="utf8mb4",
            autocommit=False,
        )
    return _local.db


_brokers: list[redis.Redis] = []  # one client (a thread-safe pool), made at the first request


def _broker() -> redis.Redis:
    if not _brokers:
        _brokers.append(redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]))
    return _brokers[0]


def application(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    data = json.loads(environ["wsgi.input"].read(length))
    email = data["email"].strip().lower()
    profile = json.dumps(data.get("profileAttributes") or {}, separators=(",", ":"))
    attributes = json.dumps(data.get("eventAttributes") or {}, separators=(",", ":"))
    now = datetime.now(UTC).replace(tzinfo=None)
    when = datetime.fromisoformat(data["time"]).replace(tzinfo=None) if data.get("time") else now
    event_id = uuid.uuid4()
    database = _database()
    cursor = database.cursor()
    cursor.execute(
        PROFILE_UPSERT, (email, email, None, None, profile, "pending", "", now, now, now)
    )
    profile_id = cursor.lastrowid
    cursor.execute(
        EVENT_INSERT,
        (
            event_id.hex,
            data["eventName"],
            email,
            profile_id,
            attributes,
            profile,
            when,
            data.get("value"),
            data.get("uniqueId"),
            "pending",
            0,
            "",
            "",
            now,
        ),
    )
    database.commit()
    _broker().lpush(FLOOR_QUEUE, json.dumps([str(event_id)]))
    body = json.dumps(
        {
            "id": str(event_id),
            "eventName": data["eventName"],
            "email": email,
            "uniqueId": data.get("uniqueId"),
            "syncStatus": "pending",
            "createdAt": now.isoformat() + "Z",
        }
    ).encode()
    start_response(
        "201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
