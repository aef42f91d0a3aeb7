"""Django's PostGIS backend; only the connection health check differs.

With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before reusing a connection in each
request (or worker message): a round trip per request, measured at 10-20% of the throughput
of an OGC items page. Here the check first asks the socket, without a round trip:

- an idle connection whose server is alive has nothing to read;
- a server that ended the connection (restart, ``pg_terminate_backend``, idle timeout) has
  sent its FATAL message and closed the socket, so the socket is readable.

Only a readable socket (or a connection psycopg already knows is closed) gets Django's real
``SELECT 1`` check, which then fails and Django reconnects. What neither check can see is a
peer that vanished without closing (a dead host): Django's ``SELECT 1`` would wait for the
TCP timeout there too.
"""

from __future__ import annotations

import select

from django.contrib.gis.db.backends.postgis import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed:
            return False
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        if not readable:
            return True
        return bool(super().is_usable())
