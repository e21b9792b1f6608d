"""The embedded broker: a queue in a folder beside the SQLite database, safe to share between
the web processes and the worker."""

import os
from pathlib import Path

import kombu
import pytest

from core.embedded_broker import (
    URL,
    embedded_broker_dir,
    folder_status,
    queued_count,
    transport_options,
)


def connection(folder: Path) -> kombu.Connection:
    return kombu.Connection(
        URL,
        transport_options=transport_options(folder, polling_interval=0.01),
    )


def test_the_folder_is_beside_the_sqlite_database_it_serves(tmp_path):
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "a" / "db.sqlite3")}
    other = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "b" / "demo.sqlite3")}
    mysql = {"ENGINE": "django.db.backends.mysql", "NAME": "klaviyo"}

    assert embedded_broker_dir(sqlite, base_dir=tmp_path) == tmp_path / "a" / "db.sqlite3-broker"
    assert embedded_broker_dir(other, base_dir=tmp_path) == tmp_path / "b" / "demo.sqlite3-broker"
    assert embedded_broker_dir(mysql, base_dir=tmp_path) == tmp_path / "klaviyo-broker"


def test_a_message_goes_through_the_folder_in_order_and_is_taken_once(tmp_path):
    queue = kombu.Queue("tasks", routing_key="tasks")
    with connection(tmp_path) as producer_connection:
        producer = producer_connection.Producer()
        for number in range(3):
            producer.publish({"n": number}, routing_key="tasks", declare=[queue])
    assert queued_count(tmp_path) == 3
    assert folder_status(tmp_path) == "ok"

    received = []
    with connection(tmp_path) as consumer_connection:
        with consumer_connection.Consumer([queue], callbacks=[lambda body, m: m.ack()]) as c:
            c.register_callback(lambda body, message: received.append(body["n"]))
            for _ in range(3):
                consumer_connection.drain_events(timeout=2)
        with pytest.raises(TimeoutError):
            consumer_connection.drain_events(timeout=0.2)

    assert received == [0, 1, 2]
    assert queued_count(tmp_path) == 0
    assert os.listdir(tmp_path / "processing") == []


def test_a_message_being_written_is_invisible_to_the_worker(tmp_path):
    with connection(tmp_path) as conn:
        channel = conn.default_channel
        # What a web process leaves mid-write: the temporary name, not yet renamed.
        (tmp_path / "queue" / ".0001_x.tasks.msg.part").write_text('{"half":')
        channel._put("tasks", {"whole": True})

        assert channel._get("tasks") == {"whole": True}
        assert (tmp_path / "queue" / ".0001_x.tasks.msg.part").exists()


def test_a_missing_folder_is_down(tmp_path):
    assert folder_status(tmp_path / "missing") == "down"


def test_its_url_names_the_transport_and_leaves_other_urls_alone():
    from core.embedded_broker import Transport

    assert isinstance(kombu.Connection(URL).transport, Transport)
    assert kombu.Connection("redis://127.0.0.1:1/0").transport.driver_type == "redis"
