"""Server-side views of the MySQL/MariaDB connections of a process (and its children), to
kill them as a network fault or a server restart would: `KILL <id>` from this process."""

from __future__ import annotations

import psutil
from django.db import connection


def _placeholders(values: list[int]) -> str:
    return ", ".join(["%s"] * len(values))


def connection_ids(pid: int) -> list[int]:
    """Ids (information_schema.processlist) of the connections `pid` and its children hold to
    this test's database, matched by the client's TCP port."""
    server_port = int(connection.settings_dict.get("PORT") or 3306)
    process = psutil.Process(pid)
    ports = {
        str(link.laddr.port)
        for member in (process, *process.children(recursive=True))
        for link in member.net_connections(kind="tcp")
        if link.raddr and link.raddr.port == server_port
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ID, HOST FROM information_schema.PROCESSLIST WHERE DB = %s",
            [connection.settings_dict["NAME"]],
        )
        return [row_id for row_id, host in cursor.fetchall() if host.rsplit(":", 1)[-1] in ports]


# InnoDB answers information_schema.INNODB_TRX from a cache it refreshes only when the last
# read is older than 0.1 s: polled faster, it shows the same old moment for ever.
TRX_CACHE_SECONDS = 0.1


def statements(connection_ids: list[int]) -> dict[int, str]:
    """What each of these connections is executing now (processlist: never cached)."""
    if not connection_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ID, INFO FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' "
            f"AND ID IN ({_placeholders(connection_ids)})",
            connection_ids,
        )
        return {row_id: info or "" for row_id, info in cursor.fetchall()}


def transactions(connection_ids: list[int]) -> list[tuple[int, str, str | None]]:
    """(connection id, state, statement) of the open transactions of these connections, as
    of up to TRX_CACHE_SECONDS ago: wait that long after the moment of interest."""
    if not connection_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT trx_mysql_thread_id, trx_state, trx_query FROM information_schema.INNODB_TRX "
            f"WHERE trx_mysql_thread_id IN ({_placeholders(connection_ids)})",
            connection_ids,
        )
        return list(cursor.fetchall())


def kill(connection_ids: list[int]) -> None:
    with connection.cursor() as cursor:
        for connection_id in connection_ids:
            cursor.execute(f"KILL {int(connection_id)}")


def alive(connection_ids: list[int]) -> list[int]:
    if not connection_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ID FROM information_schema.PROCESSLIST "
            f"WHERE ID IN ({_placeholders(connection_ids)})",
            connection_ids,
        )
        return [row[0] for row in cursor.fetchall()]
