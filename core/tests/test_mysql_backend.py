"""core.mysql, the MySQL/MariaDB backend: no `SET autocommit` between transactions, yet every
statement outside one is committed at once; a connection the server closed is replaced before
a request uses it, found without a ping.

MySQL/MariaDB only (CI): on SQLite these tests are not defined, as there is no such backend.
"""

import time

import pytest
from django.db import connection, connections, transaction

from events.models import Profile

pytestmark = pytest.mark.django_db(transaction=True)


def another_connection():
    """A connection of its own to the test database, beside Django's."""
    import MySQLdb  # here: on a machine with only Python (SQLite) the driver isn't installed

    return MySQLdb.connect(**connection.get_connection_params())


def committed_identities() -> set[str]:
    """What another connection sees: only committed rows."""
    other = another_connection()
    try:
        cursor = other.cursor()
        cursor.execute("SELECT identity FROM events_profile")
        return {row[0] for row in cursor.fetchall()}
    finally:
        other.close()


def server_autocommit() -> bool:
    """The session's own autocommit, as the server last reported it (no round trip)."""
    return bool(connection.connection.get_autocommit())


if connection.vendor == "mysql":

    def test_the_settings_use_it():
        assert type(connections["default"]).__module__ == "core.mysql.base"

    def test_a_transaction_leaves_autocommit_off_until_a_statement_runs_outside_one():
        with transaction.atomic():
            Profile.objects.create(identity="a", email="a@example.com")

        assert connection.get_autocommit() is True  # as Django sees it
        assert server_autocommit() is False  # not sent yet: a next transaction needs none

        Profile.objects.create(identity="b", email="b@example.com")  # outside a transaction

        assert server_autocommit() is True
        assert committed_identities() == {"a", "b"}

    def test_back_to_back_transactions_send_no_set_autocommit(monkeypatch):
        with transaction.atomic():
            Profile.objects.create(identity="a", email="a@example.com")
        sent: list[bool] = []
        real = type(connection.connection).autocommit

        def recorded(self, on):
            if bool(self.get_autocommit()) != bool(on):
                sent.append(on)
            return real(self, on)

        monkeypatch.setattr(type(connection.connection), "autocommit", recorded)

        for name in ("b", "c"):
            with transaction.atomic():
                Profile.objects.create(identity=name, email=f"{name}@example.com")

        assert sent == []
        assert committed_identities() == {"a", "b", "c"}

    def test_a_rolled_back_transaction_leaves_nothing_and_the_next_statement_commits():
        with pytest.raises(RuntimeError), transaction.atomic():
            Profile.objects.create(identity="gone", email="gone@example.com")
            raise RuntimeError

        Profile.objects.create(identity="kept", email="kept@example.com")

        assert committed_identities() == {"kept"}

    def test_a_connection_the_server_closed_is_replaced_before_use_without_a_ping(
        monkeypatch,
    ):
        Profile.objects.count()  # connected
        held = connection.connection
        server_id = held.thread_id()
        killer = another_connection()
        killer.cursor().execute(f"KILL {int(server_id)}")
        killer.close()
        time.sleep(0.2)  # the server closes the socket

        def no_ping(*args, **kwargs):
            raise AssertionError("pinged")

        monkeypatch.setattr(type(held), "ping", no_ping)
        connection.health_check_done = False  # a new request

        assert Profile.objects.count() == 0

        assert connection.connection is not held

    def test_a_live_idle_connection_is_kept():
        Profile.objects.count()
        held = connection.connection
        connection.health_check_done = False  # a new request

        Profile.objects.count()

        assert connection.connection is held
