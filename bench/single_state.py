"""bench/single.py's view of a target's database and of the broker: emptied before a phase,
and afterwards every stored event must be pending with its id queued once."""

import base64
import json
import time
import uuid

import redis
from benchenv import server_connection
from single_floor import FLOOR_QUEUE


def empty_tables(mysql: str, database_name: str) -> None:
    if not database_name:
        return
    database = server_connection(mysql, database=database_name)
    cursor = database.cursor()
    cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
    for table in ("events_event", "events_profile"):
        cursor.execute(f"TRUNCATE TABLE {table}")
    database.close()


def queued_ids(broker: redis.Redis) -> tuple[int, list[str]]:
    """Takes every message off the Celery queue and the floor's: their count and the ids they
    carry (a sync task's first argument, Celery's protocol 2 with its body in base64)."""
    messages, ids = 0, []
    for queue in ("celery", FLOOR_QUEUE):
        raw = broker.lrange(queue, 0, -1)
        broker.delete(queue)
        messages += len(raw)
        for message in map(json.loads, raw):
            if queue == FLOOR_QUEUE:
                ids += message
            else:
                ids += json.loads(base64.b64decode(message["body"]))[0][0]
    return messages, ids


def stored_events(mysql: str, database_name: str) -> list[tuple[str, str]]:
    database = server_connection(mysql, database=database_name)
    cursor = database.cursor()
    cursor.execute("SELECT id, sync_status FROM events_event")
    rows = [(str(uuid.UUID(row[0])) if len(row[0]) == 32 else row[0], row[1]) for row in cursor]
    database.close()
    return rows


def settled(broker: redis.Redis, wait: float = 3.0) -> None:
    """Waits until the queues stop growing (a process may publish after its answer)."""
    deadline, last = time.monotonic() + wait, -1
    while time.monotonic() < deadline:
        length = broker.llen("celery") + broker.llen(FLOOR_QUEUE)
        if length == last:
            return
        last = length
        time.sleep(0.3)


def phase_check(mysql: str, name: str, database: str, broker: redis.Redis) -> int:
    """Takes the phase's messages off the queues; stops the run unless every event stored in
    `database` ("": not ours to look at) is pending and queued once. Returns the messages."""
    settled(broker)
    messages, ids = queued_ids(broker)
    if database:
        stored = stored_events(mysql, database)
        not_pending = [status for _, status in stored if status != "pending"]
        if not_pending or sorted(ids) != sorted(event_id for event_id, _ in stored):
            raise SystemExit(
                f"{name}: {len(stored)} events stored ({len(not_pending)} not pending, "
                f"say {not_pending[:1]}), {len(ids)} ids queued ({len(set(ids))} distinct)"
            )
    return messages
