"""Django's MySQL/MariaDB backend, less two round trips per transaction and the health check's.

Settings use it as ENGINE `core.mysql` for every mysql:// DATABASE_URL. Each POST /events is one
short transaction; Django's backend spends more round trips around it than in it:

- `SET autocommit=0` before and `SET autocommit=1` after each transaction. Here the second is
  put off until a statement runs outside a transaction, which is seldom: a connection that only
  runs transactions (the ingest) keeps autocommit off between them, and the first (skipped by
  mysqlclient when already off) costs nothing either. Nothing runs in the gap unseen: every
  statement goes through the cursor below, which restores autocommit first.
- A ping before each request's first query (CONN_HEALTH_CHECKS), so that a connection the
  server closed while idle (KILL, restart, wait_timeout) is replaced before use. Here the socket
  is asked instead, without a round trip: an idle connection has nothing to read, one the server
  closed is readable (its farewell packet, or end of file). urllib3 checks its pooled
  connections the same way (`urllib3.util.connection.is_connection_dropped`).
"""

import select
from typing import Any

from django.db.backends.mysql import base as mysql

# Readable, or hung up, or in error: with no query outstanding, each means the server is gone.
_GONE = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR | select.POLLRDHUP


class CursorWrapper(mysql.CursorWrapper):
    def __init__(self, cursor: Any, database: "DatabaseWrapper") -> None:
        super().__init__(cursor)
        self.database = database

    def execute(self, query: str, args: Any = None) -> Any:
        self.database.autocommit_restore()
        return super().execute(query, args)

    def executemany(self, query: str, args: Any) -> Any:
        self.database.autocommit_restore()
        return super().executemany(query, args)

    def callproc(self, procname: str, args: Any = ()) -> Any:
        self.database.autocommit_restore()
        return self.cursor.callproc(procname, args)


class DatabaseWrapper(mysql.DatabaseWrapper):
    def create_cursor(self, name: str | None = None) -> CursorWrapper:
        return CursorWrapper(self.connection.cursor(), self)

    def _set_autocommit(self, autocommit: bool) -> None:
        if not autocommit:  # mysqlclient sends nothing when the session has it off already
            super()._set_autocommit(False)
        # On: put off until a statement runs outside a transaction (autocommit_restore).

    def autocommit_restore(self) -> None:
        """Before a statement: outside a transaction (Django's autocommit on), the session's
        autocommit must be on too. The server reports it with every answer: no round trip."""
        if self.autocommit and not self.connection.get_autocommit():
            with self.wrap_database_errors:
                self.connection.autocommit(True)

    def close_if_health_check_failed(self) -> None:
        if self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        if self._closed_by_server():
            self.close()
        self.health_check_done = True

    def _closed_by_server(self) -> bool:
        try:
            poller = select.poll()
            poller.register(self.connection.fileno(), _GONE)
            return bool(poller.poll(0))
        except (OSError, ValueError, mysql.Database.Error):
            return True
